/**
 * Placement: which node carries which media session (camera path, RTP
 * route, room id). Pure and in memory; the control plane feeds it the
 * registry's nodes and their load reports, pushes what it decides and shows
 * it at GET /placements.
 *
 *   const table = new PlacementTable({ loadFactor: 1.25, clock });
 *   table.setNode(id, { weight: weightOf(capacity), healthy, draining, fill: fillOf(load) });
 *   table.assign('cam1');          // sticky: the same node while it may keep the key
 *   table.removeNode(id);          // or setNode(..., { healthy: false }) / { draining: true }
 *   const moved = table.rebalance(); // the assignments that changed, to push
 */
export { hash32 } from './hash.js';
export { fillOf, weightOf, type MeasuredLoad } from './node-load.js';
export {
  DEFAULT_LOAD_FACTOR,
  DEFAULT_VIRTUAL_NODES,
  PlacementError,
  PlacementTable,
} from './placement-table.js';
export type { Assignment, MoveReason, PlacementNode, PlacementOptions } from './types.js';
