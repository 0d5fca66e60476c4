// A browser as far as the dashboard can tell over plain HTTP: it keeps cookies, sends the page's Origin with its
// form posts (as a browser does) and does not follow redirects, so a test sees each one.
export interface PageAnswer {
  status: number;
  headers: Headers;
  html: string;
  location: string | null;
}

export class DashboardClient {
  readonly cookies = new Map<string, string>();

  constructor(readonly baseUrl: string) {}

  /** The Set-Cookie lines of the last answer, by cookie name. */
  lastSetCookies = new Map<string, string>();

  private keep(headers: Headers) {
    this.lastSetCookies = new Map();
    for (const line of headers.getSetCookie()) {
      const [pair] = line.split(';');
      const at = pair!.indexOf('=');
      const name = pair!.slice(0, at);
      const value = pair!.slice(at + 1);
      this.lastSetCookies.set(name, line);
      if (value === '' || /max-age=0\b/i.test(line)) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }

  private cookieHeader() {
    return [...this.cookies].map(([name, value]) => `${name}=${value}`).join('; ');
  }

  async get(path: string, headers: Record<string, string> = {}): Promise<PageAnswer> {
    const response = await fetch(`${this.baseUrl}${path}`, { redirect: 'manual', headers: { Cookie: this.cookieHeader(), ...headers } });
    this.keep(response.headers);
    return { status: response.status, headers: response.headers, html: await response.text(), location: response.headers.get('location') };
  }

  /** Posts a form as the browser would from a page of this site (Origin), with the fields given and nothing else. */
  async post(path: string, fields: Record<string, string>, headers: Record<string, string> = {}): Promise<PageAnswer> {
    const response = await fetch(`${this.baseUrl}${path}`, {
      method: 'POST',
      redirect: 'manual',
      headers: { Cookie: this.cookieHeader(), Origin: this.baseUrl, 'Content-Type': 'application/x-www-form-urlencoded', ...headers },
      body: new URLSearchParams(fields).toString(),
    });
    this.keep(response.headers);
    return { status: response.status, headers: response.headers, html: await response.text(), location: response.headers.get('location') };
  }

  /** The CSRF token the page's forms carry. */
  static csrfToken(html: string): string {
    const token = /name="csrf" value="([0-9a-f]+)"/.exec(html)?.[1];
    if (!token) throw new Error('no CSRF field on the page');
    return token;
  }

  /** Signs in through the login form; answers the form post's answer. */
  async logIn(email: string, password: string): Promise<PageAnswer> {
    const page = await this.get('/dashboard/login');
    return this.post('/dashboard/login', { csrf: DashboardClient.csrfToken(page.html), email, password });
  }
}

/** Every `data-figure` on a piece of HTML: its exact cents where it is money, else its text. */
export function figures(html: string): Record<string, number | string> {
  const found: Record<string, number | string> = {};
  for (const [, name, cents, text] of html.matchAll(/data-figure="(\w+)"(?: data-cents="(-?\d+)")?[^>]*>([^<]*)</g)) {
    found[name!] = cents !== undefined ? Number(cents) : /^-?\d+$/.test(text!) ? Number(text) : text!;
  }
  return found;
}

/** The inner HTML of each element with `attribute="value"`, by value (tr, li, section, div). */
export function elementsBy(html: string, tag: string, attribute: string): Map<string, string> {
  const pattern = new RegExp(`<${tag}\\b[^>]*\\b${attribute}="([^"]*)"[^>]*>([\\s\\S]*?)</${tag}>`, 'g');
  return new Map([...html.matchAll(pattern)].map(([, value, inner]) => [value!, inner!]));
}
