import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

import { describe, expect, it } from 'vitest';

import { repoRoot } from '../helpers/fixtures.js';

const docsDir = join(repoRoot, 'docs');
const pages = [
  join(repoRoot, 'README.md'),
  join(repoRoot, 'processors', 'README.md'),
  join(repoRoot, 'examples', 'README.md'),
  ...readdirSync(docsDir)
    .filter((name) => name.endsWith('.md'))
    .map((name) => join(docsDir, name)),
];

/** The text of a page without its code blocks and inline code (links there are not links). */
function prose(text: string): string {
  return text.replace(/^```[\s\S]*?^```/gm, '').replace(/`[^`\n]*`/g, '');
}

/** GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens. */
function slug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

function anchors(file: string): Set<string> {
  const text = readFileSync(file, 'utf8').replace(/^```[\s\S]*?^```/gm, '');
  return new Set([...text.matchAll(/^#{1,6} (.+)$/gm)].map(([, heading]) => slug(heading ?? '')));
}

describe('the documentation', () => {
  it('keeps README.md at 250 lines at most', () => {
    expect(readFileSync(join(repoRoot, 'README.md'), 'utf8').split('\n').length).toBeLessThanOrEqual(251);
  });

  it.each(pages.map((page) => [relative(repoRoot, page), page]))(
    'every relative link in %s resolves, anchors included',
    (_name, page) => {
      const links = [...prose(readFileSync(page, 'utf8')).matchAll(/\]\(([^)\s]+)\)/g)].map(
        ([, target]) => target ?? '',
      );
      const broken = links
        .filter((target) => !/^[a-z]+:/i.test(target))
        .filter((target) => {
          const [path = '', anchor] = target.split('#');
          const file = path === '' ? page : resolve(dirname(page), path);
          if (!existsSync(file)) return true;
          if (anchor === undefined || statSync(file).isDirectory()) return false;
          return !anchors(file).has(anchor);
        });
      expect(broken).toEqual([]);
    },
  );

  it('finds the links it checks (a link to a missing page would be caught)', () => {
    const readme = prose(readFileSync(join(repoRoot, 'README.md'), 'utf8'));
    expect(readme).toContain('](docs/configuration.md)');
    expect(slug('The document service (`DOCUMENTS_URL`)')).toBe('the-document-service-documents_url');
    expect(slug('2. Build and deploy')).toBe('2-build-and-deploy');
  });
});
