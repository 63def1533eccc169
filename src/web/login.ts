// The login form: a token in, nothing else. The admin token or a scoped one both work.
import { $, esc } from './html.js';

export function showLogin(root: HTMLElement, message: string | undefined, login: (token: string) => void): void {
  document.title = 'Switchboard — log in';
  root.innerHTML = `
    <main class="login">
      <h1>Switchboard</h1>
      ${message ? `<p class="login-message" role="alert">${esc(message)}</p>` : ''}
      <form>
        <label for="token">Token</label>
        <input id="token" name="token" type="password" autocomplete="off" spellcheck="false" required
               placeholder="admin token or a scoped token">
        <button type="submit">Log in</button>
      </form>
      <p class="hint">The daemon printed its admin token on first start (also in <code>data/admin-token</code>);
        <code>switchboard token create</code> makes scoped ones. The token is kept in this tab only.</p>
    </main>`;
  const form = $<HTMLFormElement>(root, 'form');
  const input = $<HTMLInputElement>(form, 'input');
  input.focus();
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const token = input.value.trim();
    if (token) login(token);
  });
}
