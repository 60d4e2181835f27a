/**
 * Any signaling node is a door (issue 18 point 2, signaling/CASCADE.md
 * "Doors"): a participant may reach any node, and the node decides, per
 * request, to serve the room here (cascading it with the nodes that hold
 * it), to send the participant to another node, or to refuse. Pure: the
 * node's facts go in, a decision comes out, so every case is a row of a
 * unit table and the WebSocket and HTTP doors cannot drift apart.
 *
 * Why the two doors differ:
 * - A WebSocket join is served here whenever this node can take it: the
 *   socket is already open, cascading costs one pipe per producer and node
 *   pair, and a redirect costs the client a second connection. Only a node
 *   that cannot take it (draining, or the room's maxPeersPerNode reached
 *   here) sends the client elsewhere: to the room's home, else to the first
 *   other node by id that is not draining. An overloaded node (its last
 *   load report over its declared capacity: the control plane's own rule
 *   for moving rooms off it) sends a join only to the room's home when
 *   that is another open node, and serves it otherwise: overload is a soft
 *   limit, and the home serves its own room however busy, so an overloaded
 *   join takes one hop at most and is never refused for it.
 * - A WHIP/WHEP POST is redirected to the room's home when it is another
 *   open node (RFC 9725 allows a 307), because a media session there needs
 *   no pipe, and an HTTP client follows a redirect for free. A draining
 *   node sends it where it would send a join (the home, else the first
 *   other open node), since the session could not be asked to move later.
 *   Nowhere else: a node that can take it serves it when it is the home or
 *   the home is not open. Behind one load balancer (the home's URL
 *   unreachable by clients) the operator turns it off
 *   (signaling.cascade.httpRedirect: false) and the door cascades.
 *
 * How many hops a POST takes: one while the nodes' directories agree (the
 * target is open, and is the home, which serves its room, or finds no
 * open home either). Each node decides from its own directory, though,
 * and a config push reaches them at different moments: a node that still
 * thinks the home is elsewhere, or that the node it sends to is open when
 * that one drains too, adds a hop; two nodes draining at once, each not
 * yet knowing of the other, send a POST back and forth until one of them
 * learns it (a push: well under a second) or the client's redirect limit
 * (fetch and browsers: 20) ends it. Nothing marks a redirected request, so
 * a node cannot tell it already moved once; that would take the routes
 * adding a marker to the 307's Location and honouring it.
 *
 * Whether another node can take the participant is known only as far as
 * its SIGNALING_NODE entry says (draining or not): its room sizes are its
 * own. A node that turns out full answers for itself (limit_exceeded, or
 * its own `moved`): WebSocket clients bound how many `moved` they follow
 * (two full nodes can send a join back and forth).
 *
 * When a node leaves (signaling/CASCADE.md, "Drain" and "Node failure") the
 * same choice serves twice more: a peer of a draining node is asked to
 * `move` where a refused join would go (elsewhere), and every join answer
 * names the doors a client tries when its node cannot be reached (doorsOf,
 * in the order elsewhere would pick them).
 */

/** Another signaling node as the door sees it (its SIGNALING_NODE entry). */
export interface DoorNode {
  readonly node: string;
  /** Its public HTTP base URL (http:// or https://). */
  readonly url: string;
  readonly draining: boolean;
}

/** What the door knows when a request for a room arrives at this node. */
export interface DoorFacts {
  /** This node's id. */
  readonly here: string;
  /** This node drains: it takes no new participant. */
  readonly drainingHere: boolean;
  /** This node's last load over its declared capacity (fill above 1). */
  readonly overloadedHere: boolean;
  /** The room's members on this node now. */
  readonly localPeers: number;
  /** signaling.maxPeersPerNode. */
  readonly maxPeersPerNode: number;
  /** The room's home (PLACEMENT room/<name>), undefined before it is placed. */
  readonly home: string | undefined;
  /** Every signaling node of the directory (this one may be among them). */
  readonly nodes: readonly DoorNode[];
}

export type DoorDecision =
  | { readonly kind: 'serve' }
  | { readonly kind: 'redirect'; readonly node: string; readonly url: string }
  | { readonly kind: 'refuse'; readonly reason: 'draining' | 'full' };

const SERVE: DoorDecision = { kind: 'serve' };

/** Whether this node must not take one more participant of the room (draining, or full). */
function closedHere(facts: DoorFacts): boolean {
  return facts.drainingHere || facts.localPeers >= facts.maxPeersPerNode;
}

/** Whether this node can take one more participant of the room. */
function canTakeHere(facts: DoorFacts): boolean {
  return !closedHere(facts) && !facts.overloadedHere;
}

/** The room's home when it is another node that takes participants. */
function openHome(facts: DoorFacts): DoorNode | undefined {
  if (facts.home === undefined || facts.home === facts.here) return undefined;
  const home = facts.nodes.find((entry) => entry.node === facts.home);
  return home === undefined || home.draining ? undefined : home;
}

/** The other nodes that take participants (not draining), by id. */
function openOthers(facts: DoorFacts): DoorNode[] {
  return [...facts.nodes]
    .filter((entry) => entry.node !== facts.here && !entry.draining)
    .sort((x, y) => (x.node < y.node ? -1 : x.node > y.node ? 1 : 0));
}

/**
 * Where to send a participant this node cannot take (a join refused here, or
 * a member asked to `move` off a draining node): the room's home when it is
 * another open node, else the first other open node by id; undefined when
 * there is none.
 */
export function elsewhere(facts: DoorFacts): DoorNode | undefined {
  return openHome(facts) ?? openOthers(facts)[0];
}

/**
 * The doors a join answer carries: the WebSocket URLs of the other nodes
 * that take participants, in the order a client should try them (the room's
 * home first, then by id), for when this node goes away. The directory as
 * it is now: a client takes them as hints, any of them may be gone later.
 */
export function doorsOf(facts: DoorFacts): string[] {
  const home = openHome(facts);
  const ordered = home === undefined ? openOthers(facts) : [home, ...openOthers(facts)];
  return [...new Set(ordered.map((entry) => websocketUrlOf(entry.url)))];
}

function redirectTo(node: DoorNode): DoorDecision {
  return { kind: 'redirect', node: node.node, url: node.url };
}

function refusal(facts: DoorFacts): DoorDecision {
  return { kind: 'refuse', reason: facts.drainingHere ? 'draining' : 'full' };
}

/**
 * A WebSocket join: served here if this node can take it; else sent
 * elsewhere, else refused; only overloaded, sent to the room's home when
 * that is another open node, else served.
 */
export function websocketDoor(facts: DoorFacts): DoorDecision {
  if (canTakeHere(facts)) return SERVE;
  if (!closedHere(facts)) {
    const home = openHome(facts);
    return home === undefined ? SERVE : redirectTo(home);
  }
  const target = elsewhere(facts);
  return target === undefined ? refusal(facts) : redirectTo(target);
}

/**
 * A WHIP or WHEP POST for a room: with `httpRedirect`, sent to the room's
 * home when that is another open node; otherwise served here (a node that
 * cannot take it then refuses as it would without doors). A draining node
 * sends it where it would send a join (`elsewhere`: the home, else the
 * first other open node), since a WHIP/WHEP session cannot be asked to move
 * later. One hop while the directories agree (see the header for when
 * they do not); "the first other node" for a full node is not used here: it
 * could send two full nodes' clients back and forth.
 */
export function httpDoor(facts: DoorFacts, httpRedirect: boolean): DoorDecision {
  if (!httpRedirect) return SERVE;
  const target = facts.drainingHere ? elsewhere(facts) : openHome(facts);
  return target === undefined ? SERVE : redirectTo(target);
}

/**
 * The WebSocket URL of a node's signaling endpoint, from its public HTTP
 * URL: http -> ws, https -> wss, `/ws` under its path.
 */
export function websocketUrlOf(httpUrl: string): string {
  const url = new URL(httpUrl);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  url.pathname = `${url.pathname.replace(/\/+$/, '')}/ws`;
  url.search = '';
  url.hash = '';
  return url.toString();
}

/**
 * Where a redirected HTTP request goes: the node's public URL (its path
 * kept as a prefix) followed by the request's own path and query (which
 * may carry `?jwt=`: the edge token the client was given holds there too).
 */
export function redirectLocation(nodeUrl: string, requestPathAndQuery: string): string {
  const base = nodeUrl.replace(/\/+$/, '');
  const tail = requestPathAndQuery.startsWith('/')
    ? requestPathAndQuery
    : `/${requestPathAndQuery}`;
  return `${base}${tail}`;
}

/**
 * The node's directory as the doors read it (set on Rooms by the node when
 * it is in a mesh): its id, whether it drains, each room's home, and the
 * signaling nodes. Read at each request: it changes with every config push.
 */
export interface NodeDirectory {
  readonly here: string;
  draining(): boolean;
  /** Whether this node's last load report was over its declared capacity. */
  overloaded(): boolean;
  homeOf(room: string): string | undefined;
  nodes(): readonly DoorNode[];
}

/** The facts of a request for `room`, read from the directory now. */
export function doorFacts(
  directory: NodeDirectory,
  room: string,
  localPeers: number,
  maxPeersPerNode: number,
): DoorFacts {
  return {
    here: directory.here,
    drainingHere: directory.draining(),
    overloadedHere: directory.overloaded(),
    localPeers,
    maxPeersPerNode,
    home: directory.homeOf(room),
    nodes: directory.nodes(),
  };
}
