/**
 * Enough of a Dockerfile and its .dockerignore to check, without a Docker
 * engine, which files each stage of the image gets: the stages with their
 * WORKDIR and COPY instructions, and the build context the COPYs of the
 * first stage take from (the repository minus what .dockerignore excludes).
 * Not a Dockerfile parser in general: no ADD, no variables, no heredocs,
 * which our Dockerfile does not use (the test fails on one it cannot read).
 */
import { cpSync, existsSync, readFileSync, statSync } from 'node:fs';
import { join, posix, relative } from 'node:path';

export interface Copy {
  /** The stage named by --from, or undefined for the build context. */
  readonly from: string | undefined;
  readonly sources: readonly string[];
  readonly destination: string;
}

export interface Stage {
  readonly name: string;
  readonly workdir: string;
  readonly copies: readonly Copy[];
}

/** The instructions of a Dockerfile, one per logical line (continuations joined, comments gone). */
function instructions(text: string): string[] {
  const lines: string[] = [];
  let pending = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    // Comment lines go, also inside a continuation (Docker strips them there too).
    if (line.startsWith('#')) continue;
    if (line.endsWith('\\')) {
      pending += `${line.slice(0, -1)} `;
      continue;
    }
    const whole = `${pending}${line}`.trim();
    pending = '';
    if (whole !== '') lines.push(whole);
  }
  return lines;
}

export function parseStages(text: string): Stage[] {
  const stages: { name: string; workdir: string; copies: Copy[] }[] = [];
  for (const line of instructions(text)) {
    const [keyword = '', ...words] = line.split(/\s+/);
    const current = stages.at(-1);
    switch (keyword.toUpperCase()) {
      case 'FROM': {
        const as = words.findIndex((word) => word.toUpperCase() === 'AS');
        stages.push({ name: words[as + 1] ?? String(stages.length), workdir: '/', copies: [] });
        break;
      }
      case 'WORKDIR':
        if (current !== undefined) current.workdir = posix.resolve(current.workdir, words[0] ?? '');
        break;
      case 'COPY': {
        const flags = words.filter((word) => word.startsWith('--'));
        const paths = words.filter((word) => !word.startsWith('--'));
        const from = flags.find((flag) => flag.startsWith('--from='))?.slice('--from='.length);
        const destination = paths.pop();
        if (current === undefined || destination === undefined || paths.length === 0) {
          throw new Error(`cannot read: ${line}`);
        }
        current.copies.push({ from, sources: paths, destination });
        break;
      }
      case 'ADD':
        throw new Error(`ADD is not read here: ${line}`);
      default:
        break;
    }
  }
  return stages;
}

/**
 * Where a COPY puts one source, as an absolute path in its stage: a
 * directory's contents go into the destination; a file goes inside a
 * destination written with a trailing slash, else becomes it.
 */
export function copiedTo(stage: Stage, copy: Copy, source: string, directory: boolean): string {
  const destination = posix.resolve(stage.workdir, copy.destination);
  return !directory && copy.destination.endsWith('/')
    ? posix.join(destination, posix.basename(source))
    : destination;
}

/** A .dockerignore pattern as a test of a context-relative path (and everything under it). */
function ignoreRule(pattern: string): RegExp {
  const body = pattern
    .replace(/^\/+|\/+$/g, '')
    .split('/')
    .map((part) =>
      part === '**'
        ? '.*'
        : part
            .replace(/[.+^${}()|[\]\\]/g, '\\$&')
            .replace(/\*/g, '[^/]*')
            .replace(/\?/g, '[^/]'),
    )
    .join('/');
  return new RegExp(`^${body.replace(/\.\*\//g, '(?:.*/)?')}(?:/.*)?$`);
}

export function dockerignoreRules(root: string): RegExp[] {
  const file = join(root, '.dockerignore');
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => {
      if (line.startsWith('!')) throw new Error(`exceptions are not read here: ${line}`);
      return ignoreRule(line);
    });
}

/**
 * Copies what a stage's context COPYs take into `into` (standing for the
 * stage's WORKDIR, which every copy must be under), skipping what
 * .dockerignore excludes: the tree `npm ci` runs in during the image build.
 */
export function stageContext(root: string, stage: Stage, into: string): void {
  const ignored = dockerignoreRules(root);
  const kept = (path: string): boolean => {
    const inContext = relative(root, path).split('\\').join('/');
    return inContext === '' || !ignored.some((rule) => rule.test(inContext));
  };
  for (const copy of stage.copies) {
    if (copy.from !== undefined) continue;
    for (const source of copy.sources) {
      // Docker fails the build on a source the context does not hold.
      if (!kept(join(root, source))) throw new Error(`${source} is left out by .dockerignore`);
      const directory = statSync(join(root, source)).isDirectory();
      const target = relative(stage.workdir, copiedTo(stage, copy, source, directory));
      if (target.startsWith('..')) throw new Error(`${source} goes outside ${stage.workdir}`);
      cpSync(join(root, source), join(into, target), { recursive: true, filter: kept });
    }
  }
}
