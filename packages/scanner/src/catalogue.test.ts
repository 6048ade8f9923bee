import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CATALOGUE } from './catalogue.js';
import { catalogueTable } from './report/catalogue-table.js';
import { SCANNERS } from './services/index.js';
import { DIMENSIONS, FRAMEWORKS, SERVICES, SEVERITIES } from './types.js';

describe('the check catalogue', () => {
  it('has at least 40 checks across the four dimensions, with unique ids named after their service', () => {
    expect(CATALOGUE.length).toBeGreaterThanOrEqual(40);
    expect(new Set(CATALOGUE.map((c) => c.id)).size).toBe(CATALOGUE.length);
    for (const d of DIMENSIONS) expect(CATALOGUE.filter((c) => c.dimension === d).length, d).toBeGreaterThanOrEqual(4);
    for (const c of CATALOGUE) {
      expect(c.id, c.id).toMatch(new RegExp(`^${c.service}\\.[a-z0-9_]+$`));
      expect(SERVICES).toContain(c.service);
      expect(SEVERITIES).toContain(c.severity);
      expect(c.resourceType, c.id).toMatch(/^AWS::[A-Za-z0-9]*::[A-Za-z]+$/);
      for (const field of [c.title, c.description, c.remediation]) expect(field.length, c.id).toBeGreaterThan(10);
      for (const m of c.compliance) {
        expect(FRAMEWORKS, c.id).toContain(m.framework);
        expect(m.control.length, c.id).toBeGreaterThan(0);
      }
    }
  });

  it('maps the security checks to compliance frameworks (CIS, HIPAA, GDPR)', () => {
    const security = CATALOGUE.filter((c) => c.dimension === 'security');
    for (const c of security) expect(c.compliance.length, c.id).toBeGreaterThan(0);
    for (const f of FRAMEWORKS) expect(CATALOGUE.some((c) => c.compliance.some((m) => m.framework === f)), f).toBe(true);
  });

  it('is evaluated check for check by the service scanners, each check by its own service', () => {
    const evaluated = Object.values(SCANNERS).flatMap((s) => s.checks.map((id) => ({ id, service: s.service })));
    expect(evaluated.map((e) => e.id).sort()).toEqual(CATALOGUE.map((c) => c.id).sort());
    for (const e of evaluated) expect(CATALOGUE.find((c) => c.id === e.id)!.service).toBe(e.service);
  });

  it('is listed in the package README, as generated from the data', () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    const table = catalogueTable();
    // When this fails, paste the table printed here between the README's catalogue markers.
    expect(readme.includes(table), `README catalogue out of date; expected:\n${table}`).toBe(true);
  });
});
