import {
  IoError,
  NotPermittedError,
  ReadOnlyError,
  RejectedError,
  type SplitwattError,
  UnsupportedError,
} from "../errors.js";

/** The fields the native addon puts on a failed syscall's error. */
export interface ErrnoLike {
  code?: unknown;
  errno?: unknown;
  path?: unknown;
  message?: unknown;
}

export function errnoCode(err: unknown): string | undefined {
  if (typeof err === "object" && err !== null && typeof (err as ErrnoLike).code === "string") {
    return (err as ErrnoLike).code as string;
  }
  return undefined;
}

export type IoAction = "read" | "write" | "open";

/** Fix texts for a permission problem, by what was being accessed. */
export interface FixHints {
  notPermitted?: string;
  readOnly?: string;
}

const DEFAULT_NOT_PERMITTED = "run as root, or grant your user write access with a udev rule";
const DEFAULT_READ_ONLY =
  "the file system is mounted read-only (in a container /sys usually is): run on the host, or mount /sys read-write";

/**
 * Map an errno from the native addon to an error class with a stable code (the single place
 * this mapping lives): EACCES/EPERM -> E_NOT_PERMITTED, EROFS -> E_READ_ONLY,
 * EINVAL/EBUSY/ERANGE -> E_REJECTED, ENOENT/ENOTSUP/ENODEV/ENXIO -> E_UNSUPPORTED, else E_IO.
 * Every message names the path and says what to do.
 */
export function ioError(err: unknown, action: IoAction, path: string, hints: FixHints = {}, value?: string): SplitwattError {
  const code = errnoCode(err) ?? "EIO";
  const what = value === undefined ? `${action} ${path}` : `write "${value}" to ${path}`;
  switch (code) {
    case "EACCES":
    case "EPERM":
      return new NotPermittedError(`permission denied to ${what}: ${hints.notPermitted ?? DEFAULT_NOT_PERMITTED}`, { path, cause: err });
    case "EROFS":
      return new ReadOnlyError(`cannot ${what}: ${hints.readOnly ?? DEFAULT_READ_ONLY}`, { path, cause: err });
    case "EINVAL":
    case "EBUSY":
    case "ERANGE":
      return new RejectedError(`the kernel rejected the request to ${what} (${code})`, { path, cause: err });
    case "ENOENT":
    case "ENOTSUP":
    case "EOPNOTSUPP":
    case "ENODEV":
    case "ENXIO":
      return new UnsupportedError(`cannot ${what}: ${code === "ENOENT" ? "no such file (the driver does not offer it)" : `not supported (${code})`}`, {
        path,
        cause: err,
      });
    default:
      return new IoError(`cannot ${what}: ${code}`, { path, cause: err });
  }
}
