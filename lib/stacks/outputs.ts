/** Output keys of every `Guardian<Env>` stack; the CLI's AWS backend finds its resources by them. */
export const STACK_OUTPUTS = {
  deployStateMachineArn: 'DeployStateMachineArn',
  rollbackStateMachineArn: 'RollbackStateMachineArn',
  deploymentsTableName: 'DeploymentsTableName',
  controlTableName: 'ControlTableName',
  alarmHandlerFunctionName: 'AlarmHandlerFunctionName',
} as const;
