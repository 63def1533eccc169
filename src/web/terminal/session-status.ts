// What a console page (terminal or screen) says about its connection: the status line under it,
// and the overlay over it when the connection ended, with the reason and, if it helps, Reconnect.
import { $ } from '../html.js';
import { CLOSE_BY_SERVER } from './console-socket.js';
import type { LinkStatus } from './link-status.js';

export const OVERLAY_HTML = `
        <div class="overlay" hidden><div class="overlay-box">
          <p class="overlay-title"></p><p class="overlay-detail"></p>
          <button type="button" class="reconnect">Reconnect</button>
        </div></div>`;
export const STATUS_LINE_HTML = '<footer class="status-line" aria-live="polite"></footer>';

export class SessionStatus {
  private readonly line: HTMLElement;
  private readonly overlay: HTMLElement;

  /** `root` holds OVERLAY_HTML and STATUS_LINE_HTML; Reconnect calls `reconnect`. */
  constructor(root: HTMLElement, reconnect: () => void) {
    this.line = $(root, '.status-line');
    this.overlay = $(root, '.overlay');
    $(this.overlay, '.reconnect').addEventListener('click', reconnect);
  }

  status(text: string, problem = false): void {
    this.line.textContent = text;
    this.line.classList.toggle('problem', problem);
  }

  showOverlay(title: string, detail: string, canReconnect: boolean): void {
    this.overlay.hidden = false;
    $(this.overlay, '.overlay-title').textContent = title;
    $(this.overlay, '.overlay-detail').textContent = detail;
    $(this.overlay, '.reconnect').hidden = !canReconnect;
  }

  hideOverlay(): void {
    this.overlay.hidden = true;
  }

  /** A close because the page's token ended (expired link, revoked): says so and returns true. */
  tokenEnded(code: number, reason: string, link: LinkStatus): boolean {
    if (code !== CLOSE_BY_SERVER) return false;
    if (reason === 'token expired') {
      link.expired();
      this.status('This console link has expired', true);
      this.showOverlay('This console link has expired', 'Ask whoever sent it for a new link.', false);
      return true;
    }
    if (reason === 'token revoked') {
      this.status('disconnected: token revoked', true);
      this.showOverlay('This console access was revoked', 'The token was revoked by an administrator.', false);
      return true;
    }
    return false;
  }
}
