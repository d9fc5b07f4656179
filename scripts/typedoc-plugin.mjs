// @ts-check
/**
 * The typedoc plugin behind the API pages (`npm run docs`, configured by typedoc.config.mjs).
 * typedoc gives pages to declarations, but a QAPI command or event is a property of one
 * interface (`QmpCommands['blockdev-add']`). This plugin gives each command and event its own
 * page, laid out like QEMU's reference and listed in the sidebar under its map; points each client
 * method (`QmpMethods.blockdevAdd`) at its command's page instead of repeating its docs; keeps a
 * QAPI type's members in schema order; and names each module by its import specifier
 * (`qapi-ts/qemu-11.1`) rather than its file.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import {
  ContainerReflection,
  Converter,
  DefaultTheme,
  DefaultThemeRenderContext,
  JSX,
  KindRouter,
  ReflectionKind,
} from 'typedoc';

/** @typedef {import('typedoc').Reflection} Reflection */
/** @typedef {import('typedoc').DeclarationReflection} Declaration */
/** @typedef {import('typedoc').CommentDisplayPart} Part */

/** The interfaces whose members are QAPI commands or events: what a member's page is called, and its folder. */
const MAPS = new Map([
  ['QmpCommands', { title: 'Command', dir: 'commands' }],
  ['QgaCommands', { title: 'Command', dir: 'commands' }],
  ['QmpEvents', { title: 'Event', dir: 'events' }],
]);
/** The client-method interfaces, and the command map their members run. */
const METHODS = new Map([
  ['QmpMethods', 'QmpCommands'],
  ['QgaMethods', 'QgaCommands'],
]);

/**
 * The package's public entry points from package.json "exports", as source files and import
 * specifiers. A `./qemu-*` pattern expands over generated/: to every release, or (the default)
 * to the newest of each protocol, as the older ones differ little and would double the build.
 * `.` comes first: typedoc documents a symbol where it is first exported, so the runtime and the
 * newest release's SDK live under `qapi-ts`, and the other entry points link there.
 * @param {string} root
 * @param {{ allReleases?: boolean }} [options]
 * @returns {{ file: string, name: string }[]}
 */
export function entryPoints(root, { allReleases = false } = {}) {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  const folders = readdirSync(join(root, 'generated'), { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => d.name);
  /** @type {{ file: string, name: string }[]} */
  const out = [];
  for (const [key, value] of Object.entries(pkg.exports)) {
    const types = value && typeof value === 'object' ? value.types : undefined;
    if (typeof types !== 'string') continue;
    const file = types.replace(/^\.\/dist\//, '').replace(/\.d\.ts$/, '.ts');
    const name = 'qapi-ts' + key.slice(1);
    if (!key.includes('*')) {
      out.push({ file, name });
      continue;
    }
    const prefix = key.slice(2, key.indexOf('*'));
    const versions = folders
      .filter((f) => f.startsWith(prefix))
      .map((f) => f.slice(prefix.length))
      .sort(compareVersions);
    for (const v of allReleases ? versions : versions.slice(-1)) {
      out.push({ file: file.replace('*', v), name: name.replace('*', v) });
    }
  }
  return out;
}

/** @param {string} a @param {string} b */
function compareVersions(a, b) {
  const [x, y] = [a, b].map((s) => s.split('.').map(Number));
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const d = (x[i] ?? 0) - (y[i] ?? 0);
    if (d) return d;
  }
  return 0;
}

/**
 * Whether `r` is a command or an event: a member of one of MAPS.
 * @param {unknown} r
 * @returns {r is Declaration & { parent: Declaration }}
 */
function isQapiMember(r) {
  const refl = /** @type {Reflection | undefined} */ (r);
  return (
    typeof refl?.kindOf === 'function' &&
    refl.kindOf(ReflectionKind.Property) &&
    !!refl.parent?.kindOf(ReflectionKind.Interface) &&
    MAPS.has(refl.parent.name)
  );
}

/** The method that runs each command, filled in by the router. */
const methodOf = new WeakMap();

/**
 * Each client method and the command it runs: `blockdevAdd: Method<QmpCommands, 'blockdev-add'>`.
 * @param {import('typedoc').ProjectReflection} project
 * @returns {[Declaration, Declaration][]}
 */
function methodCommands(project) {
  /** @type {[Declaration, Declaration][]} */
  const out = [];
  for (const methods of project.getReflectionsByKind(ReflectionKind.Interface)) {
    const mapName = METHODS.get(methods.name);
    const siblings = /** @type {Declaration | undefined} */ (methods.parent)?.children;
    const map = mapName ? siblings?.find((c) => c.name === mapName) : undefined;
    if (!map?.children) continue;
    for (const method of /** @type {Declaration} */ (methods).children ?? []) {
      const arg = method.type?.type === 'reference' ? method.type.typeArguments?.[1] : undefined;
      const command = arg?.type === 'literal' ? map.children.find((c) => c.name === arg.value) : undefined;
      if (command) out.push([method, command]);
    }
  }
  return out;
}

/** KindRouter's layout, plus `commands/<module>.<name>.html` and `events/<module>.<NAME>.html`. */
class QapiRouter extends KindRouter {
  /** @param {import('typedoc').ProjectReflection} project */
  buildPages(project) {
    const pages = super.buildPages(project);
    // A method's docs are its command's: link it there (the search finds it by either name).
    for (const [method, command] of methodCommands(project)) {
      const url = this.fullUrls.get(command);
      if (!url) continue;
      this.anchors.delete(method);
      this.fullUrls.set(method, url);
      methodOf.set(command, method);
    }
    return pages;
  }
  /** @param {import('typedoc').RouterTarget} target */
  getPageKind(target) {
    return isQapiMember(target) ? 'reflection' : super.getPageKind(target);
  }
  /** @param {Reflection} refl */
  getIdealBaseName(refl) {
    const base = super.getIdealBaseName(refl);
    if (!isQapiMember(refl)) return base;
    const { dir } = /** @type {{ dir: string }} */ (MAPS.get(refl.parent.name));
    // KindRouter gives "undefined/qapi-ts_qemu-11_1.QmpCommands.blockdev-add": a property has no folder.
    return dir + '/' + base.slice(base.indexOf('/') + 1).replace(`.${refl.parent.name}.`, '.');
  }
}

/**
 * A command's or event's page, in the order of QEMU's reference: the description, the arguments
 * and the return type (an event's data), the tags (Throws, Since, Deprecated), then the examples,
 * which the description carries at its end.
 * @param {DefaultThemeRenderContext} context
 * @param {Declaration & { parent: Declaration }} model
 */
function memberPage(context, model) {
  const h = JSX.createElement;
  const [description, examples] = splitExamples(model.comment?.summary ?? []);
  // The Returns tag's text goes with the return type, not under a second "Returns" heading.
  const returnsTag = model.comment?.getTag('@returns');
  /** @param {string} title @param {Declaration | undefined} owner @param {Part[]} [text] */
  const typeSection = (title, owner, text = []) => {
    const type = owner?.type;
    if (!owner || !type) return null;
    const body = isEmptyRecord(type)
      ? h('p', null, 'None.')
      : type.type === 'reflection'
        ? context.typeDetails(owner, type, false)
        : [h('div', { class: 'tsd-signature' }, context.type(type)), context.typeDetailsIfUseful(owner, type)];
    return h('section', { class: 'tsd-panel' }, h('h4', null, title), comment(context, text), body);
  };
  const literal = model.type?.type === 'reflection' ? model.type.declaration : undefined;
  const method = methodOf.get(model);
  const sections =
    MAPS.get(model.parent.name)?.title === 'Event'
      ? [typeSection('Data', model)]
      : [
          typeSection(
            'Arguments',
            literal?.children?.find((c) => c.name === 'args'),
          ),
          typeSection(
            'Returns',
            literal?.children?.find((c) => c.name === 'returns'),
            returnsTag?.content,
          ),
        ];
  if (returnsTag) returnsTag.skipRendering = true;
  const tags = context.commentTags(model);
  if (returnsTag) returnsTag.skipRendering = false;
  return h(
    JSX.Fragment,
    null,
    h(
      'section',
      { class: 'tsd-panel tsd-comment' },
      comment(context, description),
      method &&
        h(
          'div',
          { class: 'tsd-comment tsd-typography' },
          h(
            'p',
            null,
            'Call it as ',
            h('code', null, `execute('${model.name}', …)`),
            ' or ',
            h('code', null, `cmd.${method.name}(…)`),
            '.',
          ),
        ),
    ),
    ...sections,
    h('section', { class: 'tsd-panel tsd-comment' }, tags, comment(context, examples)),
    context.memberSources(model),
  );
}

/** @param {DefaultThemeRenderContext} context @param {Part[]} parts */
function comment(context, parts) {
  return parts.length
    ? JSX.createElement('div', { class: 'tsd-comment tsd-typography' }, context.displayParts(parts))
    : null;
}

/**
 * The description and the examples, split where the first "**Example:**" begins.
 * @param {Part[]} parts
 * @returns {[Part[], Part[]]}
 */
function splitExamples(parts) {
  const heading = /(^|\n)\*\*Examples?:\*\*/;
  const i = parts.findIndex((p) => p.kind === 'text' && heading.test(p.text));
  if (i < 0) return [parts, []];
  const text = parts[i].text;
  const at = /** @type {RegExpExecArray} */ (heading.exec(text)).index;
  return [
    [...parts.slice(0, i), { kind: 'text', text: text.slice(0, at) }],
    [{ kind: 'text', text: text.slice(at) }, ...parts.slice(i + 1)],
  ];
}

/**
 * `Record<string, never>`: what the generator writes for no arguments and for `{}` returned.
 * @param {import('typedoc').SomeType} type
 */
function isEmptyRecord(type) {
  const value = type.type === 'reference' && type.name === 'Record' ? type.typeArguments?.[1] : undefined;
  return value?.type === 'intrinsic' && value.name === 'never';
}

/** The default theme's pages, but commands and events get memberPage, and the maps an index. */
class QapiContext extends DefaultThemeRenderContext {
  /** @param {ConstructorParameters<typeof DefaultThemeRenderContext>} args */
  constructor(...args) {
    super(...args);
    const { reflectionTemplate, header } = this;
    /** @param {import('typedoc').PageEvent<Reflection>} props */
    this.reflectionTemplate = (props) => {
      const model = props.model;
      if (isQapiMember(model)) return memberPage(this, model);
      // A map's page is its description and the list of its members' pages: the default's
      // preview of the whole interface would print every command's type on one page.
      if (
        model.isDeclaration() &&
        model.kindOf(ReflectionKind.Interface) &&
        (MAPS.has(model.name) || METHODS.has(model.name))
      ) {
        return JSX.createElement(
          JSX.Fragment,
          null,
          JSX.createElement('section', { class: 'tsd-panel tsd-comment' }, this.commentSummary(model)),
          this.memberSources(model),
          this.index(model),
        );
      }
      return reflectionTemplate(props);
    };
    /** @param {import('typedoc').PageEvent<Reflection>} props */
    this.header = (props) => {
      const model = props.model;
      if (!isQapiMember(model)) return header(props);
      return JSX.createElement(
        'div',
        { class: 'tsd-page-title' },
        this.breadcrumbs(model),
        JSX.createElement(
          'h1',
          { class: model.isDeprecated() ? 'deprecated' : undefined },
          `${MAPS.get(model.parent.name)?.title} ${model.name} `,
          this.reflectionFlags(model),
        ),
      );
    };
  }
}

class QapiTheme extends DefaultTheme {
  /** @param {import('typedoc').PageEvent<Reflection>} page */
  getRenderContext(page) {
    return new QapiContext(this.router, this, page, this.application.options);
  }

  /**
   * typedoc lists an interface's children in the sidebar only if they are documents: list the
   * commands and events too.
   * @param {import('typedoc').ProjectReflection} project
   */
  buildNavigation(project) {
    const nav = super.buildNavigation(project);
    /** @type {Map<string, import('typedoc').NavigationElement[]>} */
    const members = new Map();
    for (const map of project.getReflectionsByKind(ReflectionKind.Interface)) {
      const children = /** @type {Declaration} */ (map).children;
      if (!MAPS.has(map.name) || !children || !this.router.hasUrl(map)) continue;
      members.set(
        this.router.getFullUrl(map),
        children.map((c) => ({
          text: c.name,
          path: this.router.getFullUrl(c),
          kind: c.kind,
          class: c.isDeprecated() ? 'deprecated' : undefined,
        })),
      );
    }
    /** @param {import('typedoc').NavigationElement[]} elements */
    const attach = (elements) => {
      for (const el of elements) {
        const extra = el.path ? members.get(el.path) : undefined;
        if (extra) el.children = [...(el.children ?? []), ...extra];
        else if (el.children) attach(el.children);
      }
    };
    attach(nav);
    return nav;
  }
}

/**
 * By file, line and column.
 * @param {Reflection} a
 * @param {Reflection} b
 */
function bySource(a, b) {
  const [x, y] = [a, b].map((r) => /** @type {Declaration} */ (r).sources?.[0]);
  if (!x || !y) return 0;
  return x.fileName.localeCompare(y.fileName) || x.line - y.line || x.character - y.character;
}

/** @param {import('typedoc').Application} app */
export function load(app) {
  app.renderer.defineRouter('qapi', QapiRouter);
  app.renderer.defineTheme('qapi', QapiTheme);

  // Name each module by its import specifier, from the same list typedoc.config.mjs takes its
  // entry points from.
  /** @type {Map<string, string> | undefined} */
  let names;
  app.converter.on(Converter.EVENT_CREATE_DECLARATION, (context, refl) => {
    if (!refl.kindOf(ReflectionKind.Module)) return;
    const root = join(import.meta.dirname, '..');
    names ??= new Map(entryPoints(root, { allReleases: true }).map((e) => [join(root, e.file), e.name]));
    const file = context.getSymbolFromReflection(refl)?.declarations?.[0]?.getSourceFile().fileName;
    const name = file && names.get(file);
    if (name) refl.name = name;
  });

  // A QAPI type's members read best in schema order, as in QEMU's docs, where typedoc sorts them
  // by name: re-sort what generated/ declares, once typedoc has grouped it (at priority -100).
  // The command, event and method lists stay sorted by name, for finding one.
  app.converter.on(
    Converter.EVENT_RESOLVE_END,
    (context) => {
      for (const refl of Object.values(context.project.reflections)) {
        if (!(refl instanceof ContainerReflection) || !refl.children || MAPS.has(refl.name) || METHODS.has(refl.name))
          continue;
        if (refl.kindOf(ReflectionKind.SomeModule | ReflectionKind.Project)) continue;
        if (!refl.children.every((c) => c.sources?.[0]?.fileName.startsWith('generated/'))) continue;
        for (const list of [
          refl.children,
          refl.childrenIncludingDocuments,
          ...(refl.groups ?? []).map((g) => g.children),
        ]) {
          list?.sort(bySource);
        }
      }
    },
    -200,
  );
}
