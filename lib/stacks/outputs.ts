/** Output keys of every `Guardian<Env>` stack; the CLI's AWS backend finds its resources by them. */
export const STACK_OUTPUTS = {
  deployStateMachineArn: 'DeployStateMachineArn',
  rollbackStateMachineArn: 'RollbackStateMachineArn',
  /** `guardian ack` and `guardian incidents` in AWS mode (issue 8). */
  escalationStateMachineArn: 'EscalationStateMachineArn',
  deploymentsTableName: 'DeploymentsTableName',
  controlTableName: 'ControlTableName',
  alarmHandlerFunctionName: 'AlarmHandlerFunctionName',
} as const;
