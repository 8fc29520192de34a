/**
 * Links in Markdown, outside code: inline `[text](target "title")` and reference definitions `[id]: target`.
 * One reader for the README generator, which rewrites them, and for the tests, which check them.
 */

const FENCE = /^\s*(```|~~~)/;
const INLINE = /\]\(\s*<?([^()\s<>]+)>?((?:\s+"[^"]*")?)\s*\)/g;
const DEFINITION = /^(\s{0,3}\[[^\]]+\]:\s*)<?([^\s<>]+)>?/;

/**
 * Returns `markdown` with every link target replaced by `rewrite(target)`; targets inside fenced code blocks and
 * code spans are left alone.
 * @param {string} markdown
 * @param {(target: string) => string} rewrite
 * @returns {string}
 */
export function mapLinks(markdown, rewrite) {
  let fence;
  return markdown
    .split("\n")
    .map((line) => {
      const marker = FENCE.exec(line)?.[1];
      if (fence !== undefined) {
        if (marker === fence) fence = undefined;
        return line;
      }
      if (marker !== undefined) {
        fence = marker;
        return line;
      }
      const definition = DEFINITION.exec(line);
      if (definition) return `${definition[1]}${rewrite(definition[2])}${line.slice(definition[0].length)}`;
      // Odd pieces are code spans.
      return line
        .split(/(`+[^`]*`+)/)
        .map((piece, i) =>
          i % 2 === 1 ? piece : piece.replace(INLINE, (_, target, title) => `](${rewrite(target)}${title})`),
        )
        .join("");
    })
    .join("\n");
}

/**
 * Every link target of `markdown`, outside code.
 * @param {string} markdown
 * @returns {string[]}
 */
export function linkTargets(markdown) {
  const targets = [];
  mapLinks(markdown, (target) => {
    targets.push(target);
    return target;
  });
  return targets;
}

/**
 * Whether `target` is relative to the file it is in: no scheme (https:, mailto:), not an anchor in the same file,
 * not rooted at the host.
 * @param {string} target
 * @returns {boolean}
 */
export function isRelative(target) {
  return !/^[a-z][a-z0-9+.-]*:/i.test(target) && !target.startsWith("#") && !target.startsWith("/");
}
