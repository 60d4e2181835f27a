/**
 * The discovery sources' counters, made once per metrics registry (the
 * EndpointSlice and Pod sources share the dropped-objects one).
 */
import { Counter, type Registry } from 'prom-client';

const dropped = new WeakMap<Registry, Counter<'kind' | 'reason'>>();

/** Objects (or parts: one endpoint, one port) from the API server dropped, by kind and reason. */
export function droppedCounter(registry: Registry): Counter<'kind' | 'reason'> {
  let counter = dropped.get(registry);
  if (counter === undefined) {
    counter = new Counter({
      name: 'streammesh_control_plane_kubernetes_dropped_total',
      help:
        'Objects from the Kubernetes API server, or parts of them, that discovery dropped, by kind (EndpointSlice, Pod) and reason ' +
        '(not_an_object, no_name, bad_address_type, too_many_endpoints, too_many_ports, too_many_slices, too_many_pods, bad_endpoint, bad_address, bad_port).',
      labelNames: ['kind', 'reason'],
      registers: [registry],
    });
    dropped.set(registry, counter);
  }
  return counter;
}
