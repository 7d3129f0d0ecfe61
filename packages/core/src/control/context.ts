import type { GlobalSelection } from './global-selection';
import type { GroupsView } from './groups-view';
import type { LogSource } from './log-tap';
import type { MetricsExporter } from './metrics';
import type { ControlTarget } from './target';
import type { TrafficMeter } from './traffic-meter';

/** Everything the route files share. */
export interface ControlContext {
  readonly target: ControlTarget;
  readonly groups: GroupsView;
  readonly global: GlobalSelection;
  readonly traffic: TrafficMeter;
  readonly logs?: LogSource;
  readonly metrics: MetricsExporter;
}
