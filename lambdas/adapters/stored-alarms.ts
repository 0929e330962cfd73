/**
 * The Alarms port's local adapter: the state the local runner's alarm replay last stored for an
 * alarm in the Control table (`pk = "alarm#<env>"`). An alarm nothing was replayed for is OK, as
 * a freshly deployed environment's alarms are.
 */
import type { AlarmState, AlarmStates, Store } from '../core/ports.ts';

/** Alarm states of one environment, read from the store. */
export class StoredAlarmStates implements AlarmStates {
  constructor(
    private readonly store: Pick<Store, 'getAlarmState'>,
    private readonly environment: string,
  ) {}

  async stateOf(alarmName: string): Promise<AlarmState> {
    return (await this.store.getAlarmState(this.environment, alarmName)) ?? { value: 'OK' };
  }
}
