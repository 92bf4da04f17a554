// The ```ts and ```js blocks of a markdown file and their directives (test/readme.test.ts):
// `// requires: cuda` and `// file: name.ts` as a block's first lines, or as
// `<!-- file: name.ts -->` lines just above the fence (for a block that must equal a file).
import * as assert from 'node:assert/strict';

export interface ReadmeBlock { line: number; lang: 'ts' | 'js'; code: string; requires: string[]; file: string | null }

/** The ```ts and ```js blocks of a markdown text, with the line each starts on and its directives. */
export function readmeBlocks(markdown: string): ReadmeBlock[] {
  const blocks: ReadmeBlock[] = [];
  const lines = markdown.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(ts|js)\s*$/.exec(lines[i]);
    if (!open) continue;
    const end = lines.indexOf('```', i + 1);
    assert.ok(end > i, `README.md:${i + 1}: a code block without its closing fence`);
    const body = lines.slice(i + 1, end);
    // Directives: the block's leading `// name: value` lines, or `<!-- name: value -->` lines just above its fence.
    const head = body.slice(0, body.findIndex((l) => !l.startsWith('//')) >>> 0);
    for (let j = i - 1; j >= 0 && /^<!-- .* -->$/.test(lines[j]); j--) head.push(lines[j].replace(/^<!-- (.*) -->$/, '// $1'));
    const directive = (name: string) => head.map((l) => new RegExp(`^// ${name}: (.+)$`).exec(l)?.[1]).filter((v): v is string => !!v);
    blocks.push({ line: i + 2, lang: open[1] as 'ts' | 'js', code: body.join('\n') + '\n', requires: directive('requires'), file: directive('file')[0] ?? null });
    i = end;
  }
  return blocks;
}
