import { useState, type FormEvent } from 'react';
import { api, ApiError } from '../api/client';
import type { RuleView } from '../api/types';
import { can, useUser } from '../auth';
import { SeverityBadge } from '../components/severity';
import { messageOf, useLoad } from '../hooks';
import type { Severity } from '../api/types';

const TEMPLATE = {
  id: 'line-pressure',
  title: 'Line pressure high',
  severity: 'high',
  scope: { kinds: ['machine'] },
  condition: { type: 'threshold', metric: 'pressure', op: '>', value: 5, forSeconds: 30 },
};

interface Issue {
  path: string;
  message: string;
}

/** Rules in force; API rules can be made, changed and deleted here, with the server's validation issues shown at the field they name. */
export default function Rules() {
  const user = useUser();
  const writable = can(user, 'rules:write');
  const list = useLoad((signal) => api<{ rules: RuleView[] }>('/v1/rules', { signal }), []);
  const [editing, setEditing] = useState<{ id?: string; version?: number; text: string }>();
  const [issues, setIssues] = useState<Issue[]>([]);
  const [error, setError] = useState<string>();
  const [saved, setSaved] = useState<string>();

  const save = async (e: FormEvent): Promise<void> => {
    e.preventDefault();
    if (!editing) return;
    setIssues([]);
    setError(undefined);
    setSaved(undefined);
    let body: unknown;
    try {
      body = JSON.parse(editing.text);
    } catch (err) {
      setIssues([{ path: '', message: `not JSON: ${messageOf(err)}` }]);
      return;
    }
    try {
      const path = editing.id ? `/v1/rules/${encodeURIComponent(editing.id)}?version=${editing.version}` : '/v1/rules';
      const rule = await api<RuleView>(path, { method: editing.id ? 'PUT' : 'POST', body });
      setSaved(`Saved ${rule.id}, version ${rule.version}.`);
      setEditing(undefined);
      list.reload();
    } catch (err) {
      if (err instanceof ApiError && Array.isArray(err.issues) && err.issues.length > 0) setIssues(err.issues as Issue[]);
      else setError(messageOf(err));
    }
  };
  const remove = async (id: string): Promise<void> => {
    if (!window.confirm(`Delete rule ${id}? Its alerts stay.`)) return;
    try {
      await api(`/v1/rules/${encodeURIComponent(id)}`, { method: 'DELETE' });
      list.reload();
    } catch (err) {
      setError(messageOf(err));
    }
  };

  return (
    <section aria-labelledby="rules-title">
      <h1 id="rules-title">Rules</h1>
      {list.error && <p className="error" role="alert">{list.error}</p>}
      {saved && <p className="ok" role="status">{saved}</p>}
      {writable && !editing && <p><button type="button" onClick={() => { setIssues([]); setEditing({ text: JSON.stringify(TEMPLATE, null, 2) }); }}>New rule</button></p>}
      {editing && (
        <form className="panel" onSubmit={(e) => void save(e)} aria-labelledby="rule-editor-title">
          <h2 id="rule-editor-title">{editing.id ? `Edit ${editing.id}` : 'New rule'}</h2>
          <label>Rule (JSON; format in packages/rules/README.md)
            <textarea rows={14} value={editing.text} spellCheck={false} onChange={(e) => setEditing({ ...editing, text: e.target.value })}
              aria-invalid={issues.length > 0 ? true : undefined} aria-describedby={issues.length > 0 ? 'rule-issues' : undefined} />
          </label>
          {issues.length > 0 && (
            // The alert role on a wrapper, not on the <ul>: a role there would take its list semantics (axe: listitem).
            <div id="rule-issues" role="alert" aria-label="Problems in the rule">
              <ul className="issues">
                {issues.map((i, n) => <li key={n}><code>{i.path || '/'}</code> {i.message}</li>)}
              </ul>
            </div>
          )}
          {error && <p className="error" role="alert">{error}</p>}
          <div className="buttons">
            <button type="submit">Save</button>
            <button type="button" onClick={() => setEditing(undefined)}>Cancel</button>
          </div>
        </form>
      )}
      <table>
        <thead><tr><th scope="col">Rule</th><th scope="col">Severity</th><th scope="col">Condition</th><th scope="col">Origin</th><th scope="col"><span className="sr-only">Actions</span></th></tr></thead>
        <tbody>
          {(list.data?.rules ?? []).map((r) => {
            const rule = r.rule as { title?: string; severity?: Severity; condition?: { type?: string; metric?: string } };
            return (
              <tr key={r.id}>
                <td><strong>{rule.title ?? r.id}</strong><br /><code className="muted">{r.id}</code> v{r.version}</td>
                <td>{rule.severity ? <SeverityBadge severity={rule.severity} /> : 'from level'}</td>
                <td>{rule.condition?.type}{rule.condition?.metric ? ` on ${rule.condition.metric}` : ''}</td>
                <td>{r.origin}</td>
                <td>
                  {writable && r.origin === 'api' && (
                    <div className="buttons">
                      <button type="button" onClick={() => { setIssues([]); setEditing({ id: r.id, version: r.version, text: JSON.stringify(r.rule, null, 2) }); }}>Edit</button>
                      <button type="button" onClick={() => void remove(r.id)}>Delete</button>
                    </div>
                  )}
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </section>
  );
}
