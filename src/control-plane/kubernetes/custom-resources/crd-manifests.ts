/**
 * The CustomResourceDefinitions of Camera and MediaRoute, generated from the
 * config's zod schemas so they cannot drift (helm/streammesh/crds/ holds
 * them as written by scripts/generate-crds.mjs; a unit test compares).
 *
 * The API server's schema is the first gate, zod the real one: spec keeps
 * unknown fields (x-kubernetes-preserve-unknown-fields) and its fields carry
 * the schema's descriptions (kubectl explain) but no type, so whatever a
 * person writes under spec is stored, and the control plane answers in
 * status with the reason the file would get (`spec.source: must be an
 * rtsp:// URL, not http://`) rather than kubectl refusing it with the
 * API server's words. status is typed: only the control plane writes it.
 */
import { stringify } from 'yaml';
import { z } from 'zod';
import { routeSchema, rtspPathSchema } from '../../../config/index.js';
import { CAMERA, GROUP, MEDIA_ROUTE, VERSION, type KindNames } from './kinds.js';

type Schema = Record<string, unknown>;

/** Each top-level field of `schema` (zod) with its description only, any value kept. */
function describedFields(
  schema: z.ZodType,
  leaveOut: readonly string[] = [],
): Record<string, Schema> {
  const json = z.toJSONSchema(schema, { io: 'input', target: 'draft-2020-12' });
  const properties = (json['properties'] ?? {}) as Record<string, Schema>;
  return Object.fromEntries(
    Object.entries(properties)
      .filter(([name]) => !leaveOut.includes(name))
      .map(([name, field]) => {
        const description = descriptionOf(field);
        return [
          name,
          {
            ...(description === undefined ? {} : { description }),
            'x-kubernetes-preserve-unknown-fields': true,
          },
        ];
      }),
  );
}

/** A field's description, or for an undescribed list its items'. */
function descriptionOf(field: Schema): string | undefined {
  if (typeof field['description'] === 'string') return field['description'];
  const items = field['items'] as Schema | undefined;
  if (items !== undefined && typeof items['description'] === 'string') {
    return `A list; each item: ${items['description']}`;
  }
  return undefined;
}

/** metav1.Condition, as the API machinery's own CRDs (Gateway API) declare it. */
const conditionSchema: Schema = {
  type: 'object',
  description: "One aspect of the object's state (metav1.Condition).",
  required: ['type', 'status', 'reason', 'message', 'lastTransitionTime'],
  properties: {
    type: { type: 'string', maxLength: 316, description: 'Accepted or Programmed.' },
    status: { type: 'string', enum: ['True', 'False', 'Unknown'] },
    reason: { type: 'string', maxLength: 1024, description: 'Why, in one CamelCase word.' },
    message: { type: 'string', maxLength: 32768, description: 'Why, for people.' },
    observedGeneration: {
      type: 'integer',
      format: 'int64',
      minimum: 0,
      description: 'The metadata.generation the condition was judged on.',
    },
    lastTransitionTime: {
      type: 'string',
      format: 'date-time',
      description: 'When status last changed.',
    },
  },
};

const statusSchema: Schema = {
  type: 'object',
  description: 'Written by the control plane.',
  properties: {
    conditions: {
      type: 'array',
      maxItems: 8,
      description:
        "Accepted: True when the spec is valid and laid in the config; False with reason Invalid (the schema's reasons) or Conflicted (what it clashes with). " +
        'Programmed: True once every live rtp-proxy acknowledged a config that holds it; False/Pending until then; False/Invalid when not accepted.',
      items: conditionSchema,
      'x-kubernetes-list-type': 'map',
      'x-kubernetes-list-map-keys': ['type'],
    },
  },
};

const conditionColumn = (type: string): Schema => ({
  name: type,
  type: 'string',
  jsonPath: `.status.conditions[?(@.type=="${type}")].status`,
});

function crd(
  names: KindNames,
  description: string,
  spec: Schema,
  columns: readonly Schema[],
): Schema {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: {
      name: `${names.plural}.${GROUP}`,
      labels: { 'app.kubernetes.io/part-of': 'streammesh' },
    },
    spec: {
      group: GROUP,
      names: {
        kind: names.kind,
        listKind: names.listKind,
        plural: names.plural,
        singular: names.singular,
        ...(names.shortNames.length === 0 ? {} : { shortNames: [...names.shortNames] }),
        categories: ['streammesh'],
      },
      scope: 'Namespaced',
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: [
            ...columns,
            conditionColumn('Accepted'),
            conditionColumn('Programmed'),
            { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
          ],
          schema: {
            openAPIV3Schema: {
              type: 'object',
              description,
              properties: {
                apiVersion: { type: 'string' },
                kind: { type: 'string' },
                metadata: { type: 'object' },
                spec,
                status: statusSchema,
              },
            },
          },
        },
      ],
    },
  };
}

export function crdManifests(): readonly Schema[] {
  return [
    crd(
      CAMERA,
      'An RTSP path the proxies serve (proxy.rtsp.paths.<path> of the config file), fed by a camera or by publishers. The control plane validates spec with the config schema and says why in status.',
      {
        type: 'object',
        description:
          'proxy.rtsp.paths.<path> of the config file; a path the file names wins over a Camera.',
        'x-kubernetes-preserve-unknown-fields': true,
        properties: {
          path: {
            description: 'The path name: rtsp://<proxy>/<path>. Default: metadata.name.',
            'x-kubernetes-preserve-unknown-fields': true,
          },
          ...describedFields(rtspPathSchema),
        },
      },
      [
        { name: 'Path', type: 'string', jsonPath: '.spec.path', priority: 1 },
        { name: 'Source', type: 'string', jsonPath: '.spec.source' },
      ],
    ),
    crd(
      MEDIA_ROUTE,
      'An RTP relay route of the proxies (an item of proxy.routes of the config file), named by metadata.name. The control plane validates spec with the config schema and says why in status.',
      {
        type: 'object',
        description:
          'An item of proxy.routes of the config file, without its name; a route of the file wins over a MediaRoute of the same name or listen address.',
        'x-kubernetes-preserve-unknown-fields': true,
        properties: describedFields(routeSchema, ['name']),
      },
      [{ name: 'Listen', type: 'string', jsonPath: '.spec.listen' }],
    ),
  ];
}

export const CRD_FILE_HEADER =
  '# Generated by scripts/generate-crds.mjs from src/control-plane/kubernetes/custom-resources/crd-manifests.ts\n' +
  "# (the config's zod schemas); do not edit: run `npm run build && node scripts/generate-crds.mjs`.\n";

/** The CRD file of helm/streammesh/crds/ for each definition: file name -> text. */
export function crdYaml(): ReadonlyMap<string, string> {
  return new Map(
    crdManifests().map((manifest) => {
      const name = (manifest['metadata'] as { name: string }).name;
      return [
        `${name}.yaml`,
        `${CRD_FILE_HEADER}${stringify(manifest, { lineWidth: 0, singleQuote: true })}`,
      ];
    }),
  );
}
