import type { ResourceType } from '../../src/config/index.js';

/** The resource types the L7 proxy puts in force (its part of a config update). */
export const HTTP_RESOURCE_TYPES: readonly ResourceType[] = [
  'HTTP_LISTENER',
  'HTTP_ROUTE',
  'HTTP_CLUSTER',
  'HTTP_ENDPOINTS',
];
