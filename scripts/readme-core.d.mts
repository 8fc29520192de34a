/** Where the generated guide goes, relative to the repository's root. */
export const TARGET: string;
/** The application guide for npm, from the text of the repository's README. */
export function coreReadme(readme: string): string;
