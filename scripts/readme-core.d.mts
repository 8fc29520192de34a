/** Where the generated guide goes, relative to the repository's root. */
export const TARGET: string;
/** The application guide for npm, from the text of the repository's README. */
export function coreReadme(readme: string): string;
/** The driver authors' guide, the one source, relative to the repository's root. */
export const DRIVER_GUIDE: string;
/** Its copy in the conformance package, relative to the repository's root. */
export const DRIVER_GUIDE_COPY: string;
/** The conformance package's copy of the driver authors' guide, from its text. */
export function driverGuideCopy(guide: string): string;
