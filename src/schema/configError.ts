/** Bad configuration: `variable` is the environment variable (CLI) or the Config field (makeConfig) at fault. */
export class ConfigError extends Error {
  readonly _tag = "ConfigError";
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super(`${variable}: ${message}`);
    this.name = "ConfigError";
  }
}
