/** An error whose message is already the sentence for the user, with its condition reason. */
export class UserError extends Error {
  readonly reason: string;
  constructor(reason: string, message: string) {
    super(message);
    this.name = 'UserError';
    this.reason = reason;
  }
}
