// Outgoing e-mail: SMTP through nodemailer when SMTP_URL is set, otherwise a mailer that only logs.
import nodemailer from 'nodemailer';
import type { Config } from './config.js';
import type { Logger } from './logger.js';

export interface Mail {
  to: string[];
  subject: string;
  text: string;
  /** A stable Message-ID, so a resent mail is recognisably the same mail. */
  messageId?: string;
}

export interface Mailer {
  /** `smtp` hands mail to the server; `log` only writes it to the log (no SMTP_URL configured). */
  readonly transport: 'smtp' | 'log';
  /**
   * Resolves once the SMTP server accepted the mail for at least one recipient, naming those it refused;
   * rejects with the server's or the network's error.
   */
  send(mail: Mail): Promise<{ rejected: string[] }>;
}

// One transport per SMTP URL and sender for the whole process, shared by every activity.
const mailers = new Map<string, Mailer>();

export function getMailer(config: Config['mail'], log: Logger): Mailer {
  const cacheKey = `${config.smtpUrl ?? ''}\n${config.from}`;
  let mailer = mailers.get(cacheKey);
  if (!mailer) {
    mailer = config.smtpUrl ? smtpMailer(config.smtpUrl, config.from) : loggingMailer(log);
    mailers.set(cacheKey, mailer);
  }
  return mailer;
}

function smtpMailer(url: string, from: string): Mailer {
  // Bounded waits: a hung server fails the attempt so Temporal retries it, rather than the activity timing out.
  const transporter = nodemailer.createTransport({ url, connectionTimeout: 10_000, greetingTimeout: 10_000, socketTimeout: 30_000 });
  return {
    transport: 'smtp',
    async send(mail) {
      const info = await transporter.sendMail({ from, to: mail.to, subject: mail.subject, text: mail.text, messageId: mail.messageId });
      return { rejected: info.rejected };
    },
  };
}

function loggingMailer(log: Logger): Mailer {
  return {
    transport: 'log',
    async send(mail) {
      log.info(`mail (no SMTP_URL, not sent) to ${mail.to.join(', ')}: ${mail.subject}\n${mail.text}`);
      return { rejected: [] };
    },
  };
}
