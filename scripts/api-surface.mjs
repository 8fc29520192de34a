// Prints the public API of @portable-pubsub/core as its two entries' emitted .d.ts declare it: every
// export, resolved through re-exports, with its declared type, members and doc comment, in a form that
// does not depend on which file declares it. Run after `pnpm build`, before and after a change, and diff:
//   node scripts/api-surface.mjs > before.txt   ...   node scripts/api-surface.mjs | diff before.txt -
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";

const core = join(dirname(fileURLToPath(import.meta.url)), "../packages/core");
const manifest = JSON.parse(readFileSync(join(core, "package.json"), "utf8"));
const entries = Object.entries(manifest.exports)
  .filter(([, target]) => typeof target === "object" && target.types)
  .map(([name, target]) => [name, join(core, target.types)]);
const program = ts.createProgram(
  entries.map(([, file]) => file),
  { strict: true, module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, noEmit: true },
);
const checker = program.getTypeChecker();
const flags = ts.TypeFormatFlags.NoTruncation | ts.TypeFormatFlags.InTypeAlias;
// Where a type is declared (`import("…/dist/x").T`) and the ids of well-known symbols are not API.
const text = (s) =>
  s.replace(/import\("[^"]*"(, \{ with: \{ "resolution-mode": "import" \} \})?\)\./g, "").replace(/@\d+$/, "");
const typeOf = (sym, at) => text(checker.typeToString(checker.getTypeOfSymbolAtLocation(sym, at), undefined, flags));

for (const [name, file] of entries) {
  const exports = checker.getExportsOfModule(checker.getSymbolAtLocation(program.getSourceFile(file)));
  for (const exported of exports.sort((a, b) => a.name.localeCompare(b.name))) {
    const sym = exported.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exported) : exported;
    const at = sym.declarations?.[0];
    const lines = [];
    if (sym.flags & ts.SymbolFlags.Value) lines.push(`value: ${typeOf(sym, at)}`);
    if (sym.flags & ts.SymbolFlags.Type) {
      const type = checker.getDeclaredTypeOfSymbol(sym);
      lines.push(`type: ${text(checker.typeToString(type, undefined, flags))}`);
      // The members of a string, or of a union of literals, are the language's, not the API's.
      if (!(type.flags & (ts.TypeFlags.StringLike | ts.TypeFlags.Union))) {
        for (const p of checker.getPropertiesOfType(type)) {
          lines.push(`  .${text(p.name)}${p.flags & ts.SymbolFlags.Optional ? "?" : ""}: ${typeOf(p, at)}`);
        }
      }
      if (sym.flags & ts.SymbolFlags.Class) {
        const statics = checker.getTypeOfSymbolAtLocation(sym, at);
        for (const p of checker.getPropertiesOfType(statics)) lines.push(`  static ${p.name}: ${typeOf(p, at)}`);
        for (const s of statics.getConstructSignatures()) {
          lines.push(`  new${text(checker.signatureToString(s, undefined, flags))}`);
        }
      }
    }
    lines.push(`doc: ${ts.displayPartsToString(sym.getDocumentationComment(checker)).replace(/\n/g, " ")}`);
    console.log(`${name} ${exported.name}\n  ${lines.join("\n  ")}`);
  }
}
