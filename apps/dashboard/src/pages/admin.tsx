import { useState, type FormEvent } from 'react';
import { api } from '../api/client';
import type { KeyInfo, Role, UserInfo } from '../api/types';
import { Time } from '../components/time';
import { messageOf, useLoad } from '../hooks';

const SCOPES = ['ingest', 'read', 'metrics', 'predict', 'admin'] as const;
const ROLES: Role[] = ['admin', 'operator', 'clinician', 'analyst'];

export default function Admin() {
  return (
    <section aria-labelledby="admin-title">
      <h1 id="admin-title">Admin</h1>
      <Keys />
      <Users />
    </section>
  );
}

function Keys() {
  const list = useLoad((signal) => api<{ keys: KeyInfo[] }>('/v1/keys', { signal }), []);
  const [scopes, setScopes] = useState<string[]>(['ingest']);
  const [name, setName] = useState('');
  const [device, setDevice] = useState('');
  const [created, setCreated] = useState<{ key: string; id: string }>();
  const [error, setError] = useState<string>();
  const create = async (e: FormEvent): Promise<void> => {
    e.preventDefault();
    setError(undefined);
    try {
      const res = await api<{ key: string; id: string }>('/v1/keys', { method: 'POST', body: { scopes, ...(name.trim() && { name: name.trim() }), ...(device.trim() && { device: device.trim() }) } });
      setCreated({ key: res.key, id: res.id });
      setName('');
      setDevice('');
      list.reload();
    } catch (err) {
      setError(messageOf(err));
    }
  };
  const revoke = async (id: string): Promise<void> => {
    if (!window.confirm(`Revoke key ${id}? Whatever uses it stops working within a second.`)) return;
    try {
      await api(`/v1/keys/${encodeURIComponent(id)}`, { method: 'DELETE' });
      list.reload();
    } catch (err) {
      setError(messageOf(err));
    }
  };
  return (
    <section aria-labelledby="keys-title">
      <h2 id="keys-title">API keys</h2>
      <form className="panel inline" onSubmit={(e) => void create(e)} aria-label="Create an API key">
        <fieldset>
          <legend>Scopes</legend>
          {SCOPES.map((s) => (
            <label key={s} className="pill">
              <input type="checkbox" checked={scopes.includes(s)} onChange={(e) => setScopes(e.target.checked ? [...scopes, s] : scopes.filter((x) => x !== s))} /> {s}
            </label>
          ))}
        </fieldset>
        <label>Name <input name="key-name" value={name} onChange={(e) => setName(e.target.value)} maxLength={128} /></label>
        <label>Only for device <input name="key-device" value={device} onChange={(e) => setDevice(e.target.value)} placeholder="optional" /></label>
        <button type="submit" disabled={scopes.length === 0}>Create key</button>
      </form>
      {created && (
        <div className="panel once" role="status" aria-live="polite">
          <p><strong>Key {created.id}: copy it now, it is shown only this once.</strong></p>
          <p><code data-testid="new-key" className="secret">{created.key}</code>{' '}
            <button type="button" onClick={() => void navigator.clipboard?.writeText(created.key)}>Copy</button>{' '}
            <button type="button" onClick={() => setCreated(undefined)}>Done</button></p>
        </div>
      )}
      {error && <p className="error" role="alert">{error}</p>}
      <table>
        <thead><tr><th scope="col">Id</th><th scope="col">Name</th><th scope="col">Scopes</th><th scope="col">Device</th><th scope="col">Created</th><th scope="col">State</th><th scope="col"><span className="sr-only">Actions</span></th></tr></thead>
        <tbody>
          {(list.data?.keys ?? []).map((k) => (
            <tr key={k.id}>
              <td><code>{k.id}</code></td><td>{k.name ?? '—'}</td><td>{k.scopes.join(', ')}</td><td>{k.device ?? 'any'}</td>
              <td><Time iso={k.created} /></td>
              <td>{k.revoked ? <>revoked <Time iso={k.revoked} /></> : 'active'}</td>
              <td>{!k.revoked && <button type="button" onClick={() => void revoke(k.id)} aria-label={`Revoke key ${k.id}`}>Revoke</button>}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

function Users() {
  const list = useLoad((signal) => api<{ users: UserInfo[] }>('/v1/users', { signal }), []);
  const [form, setForm] = useState<{ username: string; password: string; role: Role }>({ username: '', password: '', role: 'operator' });
  const [error, setError] = useState<string>();
  const create = async (e: FormEvent): Promise<void> => {
    e.preventDefault();
    setError(undefined);
    try {
      await api('/v1/users', { method: 'POST', body: form });
      setForm({ username: '', password: '', role: 'operator' });
      list.reload();
    } catch (err) {
      setError(messageOf(err));
    }
  };
  const update = async (id: string, change: Partial<{ role: Role; disabled: boolean }>): Promise<void> => {
    try {
      await api(`/v1/users/${encodeURIComponent(id)}`, { method: 'PATCH', body: change });
      list.reload();
    } catch (err) {
      setError(messageOf(err));
    }
  };
  return (
    <section aria-labelledby="users-title">
      <h2 id="users-title">Users</h2>
      <form className="panel inline" onSubmit={(e) => void create(e)} aria-label="Create a user">
        <label>Username <input value={form.username} onChange={(e) => setForm({ ...form, username: e.target.value })} required maxLength={64} autoComplete="off" /></label>
        <label>Password <input type="password" value={form.password} onChange={(e) => setForm({ ...form, password: e.target.value })} required minLength={12} autoComplete="new-password" /></label>
        <label>Role
          <select value={form.role} onChange={(e) => setForm({ ...form, role: e.target.value as Role })}>{ROLES.map((r) => <option key={r}>{r}</option>)}</select>
        </label>
        <button type="submit">Create user</button>
      </form>
      {error && <p className="error" role="alert">{error}</p>}
      <table>
        <thead><tr><th scope="col">User</th><th scope="col">Role</th><th scope="col">Created</th><th scope="col">State</th></tr></thead>
        <tbody>
          {(list.data?.users ?? []).map((u) => (
            <tr key={u.id}>
              <td>{u.username}</td>
              <td>
                <select aria-label={`Role of ${u.username}`} value={u.role} onChange={(e) => void update(u.id, { role: e.target.value as Role })}>{ROLES.map((r) => <option key={r}>{r}</option>)}</select>
              </td>
              <td><Time iso={u.created} /></td>
              <td>
                {u.disabled ? 'disabled' : 'active'}{' '}
                <button type="button" onClick={() => void update(u.id, { disabled: !u.disabled })}>{u.disabled ? 'Enable' : 'Disable'}</button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
