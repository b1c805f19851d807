// avdgen's PowerShell oracle: parses each file with tree-sitter-powershell (npm) and reports
//   - every ERROR or MISSING node (a syntax error for PowerShell 5.1 and 7);
//   - PowerShell 7-only syntax that Windows PowerShell 5.1 rejects: && / || pipeline chains;
//   - a native command (not a Verb-Noun cmdlet) whose stderr is redirected (2>, 2>&1, *>) in a script that sets
//     $ErrorActionPreference = 'Stop': Windows PowerShell 5.1 turns the first stderr line into a terminating
//     error there (PowerShell issues 3996 and 4002, fixed in 7.1), so such a line fails on the hosts Intune uses.
// Usage: node ps-parse.mjs FILE...   one line per file ("ok" or "FAIL" and the findings); exit 1 if any FAIL.
// The grammar reads `2>$null` as a plain token, so redirections are recognised from the token text as well.
import fs from 'node:fs';
import Parser from 'tree-sitter';
import PowerShell from 'tree-sitter-powershell';

const parser = new Parser();
parser.setLanguage(PowerShell);

const cmdletName = /^[A-Za-z]+-[A-Za-z0-9]+$/;
const stderrRedirect = /^(2|\*)>/;
const stopPreference = /\$ErrorActionPreference\s*=\s*['"]?Stop['"]?/i;

function findings(file, src) {
  const tree = parser.parse(src, null, { bufferSize: 1 << 22 });
  const lines = src.split('\n');
  const at = (n) => `${file}:${n.startPosition.row + 1}:${n.startPosition.column + 1}`;
  const out = [];
  const stop = stopPreference.test(src);
  const walk = (n) => {
    if (n.type === 'ERROR' || n.isMissing) {
      out.push(`${at(n)}: ${n.isMissing ? 'MISSING ' + n.type : 'syntax ERROR'} | ${(lines[n.startPosition.row] || '').trim().slice(0, 100)}`);
      if (n.type === 'ERROR') return;
    }
    if (n.type === 'pipeline_chain_tail') {
      out.push(`${at(n)}: && or || needs PowerShell 7; Windows PowerShell 5.1 rejects it`);
    }
    if (stop && n.type === 'command') {
      const name = n.childForFieldName('command_name');
      const elems = n.childForFieldName('command_elements');
      const nameText = name ? name.text.replace(/^['"]|['"]$/g, '') : '';
      if (name && !cmdletName.test(nameText) && elems) {
        for (let i = 0; i < elems.childCount; i++) {
          const e = elems.child(i);
          if ((e.type === 'redirection' || e.type === 'generic_token') && stderrRedirect.test(e.text)) {
            out.push(`${at(e)}: native command ${nameText} redirects stderr (${e.text}) under $ErrorActionPreference = 'Stop': ` +
              `Windows PowerShell 5.1 throws on its first stderr line; check $LASTEXITCODE instead`);
          }
        }
      }
    }
    for (let i = 0; i < n.childCount; i++) walk(n.child(i));
  };
  walk(tree.rootNode);
  if (tree.rootNode.hasError && !out.length) out.push(`${file}: the parse tree has an error`);
  return out;
}

let failed = 0;
for (const file of process.argv.slice(2)) {
  let src = fs.readFileSync(file, 'utf8');
  if (src.charCodeAt(0) === 0xfeff) src = src.slice(1); // a UTF-8 BOM is how Windows PowerShell 5.1 knows the encoding
  const probs = findings(file, src);
  if (probs.length) {
    failed++;
    console.log(`FAIL ${file}`);
    for (const p of probs) console.log(`  ${p}`);
  } else {
    console.log(`ok   ${file}`);
  }
}
process.exit(failed ? 1 : 0);
