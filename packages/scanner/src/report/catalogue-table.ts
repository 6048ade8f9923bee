import { CATALOGUE } from '../catalogue.js';

/** The catalogue as the Markdown table in the package README (a test keeps them equal). */
export function catalogueTable(): string {
  const rows = CATALOGUE.map((c) => {
    const refs = c.compliance.map((m) => `${m.framework.startsWith('CIS') ? 'CIS' : m.framework.startsWith('HIPAA') ? 'HIPAA' : 'GDPR'} ${m.control}`).join(', ');
    return `| \`${c.id}\` | ${c.title} | ${c.dimension} | ${c.severity} | ${c.resourceType} | ${refs || '–'} |`;
  });
  return ['| id | check | dimension | severity | resource | compliance |', '|---|---|---|---|---|---|', ...rows].join('\n');
}
