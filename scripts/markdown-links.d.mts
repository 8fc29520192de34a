/** Returns `markdown` with every link target outside code replaced by `rewrite(target)`. */
export function mapLinks(markdown: string, rewrite: (target: string) => string): string;
/** Every link target of `markdown`, outside code. */
export function linkTargets(markdown: string): string[];
/** Whether `target` is relative to the file it is in (no scheme, not an anchor, not rooted at the host). */
export function isRelative(target: string): boolean;
