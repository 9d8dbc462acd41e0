/**
 * The error every FileSystem implementation throws: an errno-like string `code` ('EIO', 'ENOSPC',
 * 'ENOENT', 'EEXIST', 'EBADF', …), the system call and the path, shaped like Node's own fs errors
 * so callers check `error.code` the same way whichever file system is underneath.
 */
export class FileSystemError extends Error {
  readonly code: string;
  readonly syscall: string;
  readonly path: string;

  constructor(code: string, syscall: string, path: string, detail = describeCode(code)) {
    super(`${code}: ${detail}, ${syscall} '${path}'`);
    this.name = 'FileSystemError';
    this.code = code;
    this.syscall = syscall;
    this.path = path;
  }
}

/** The string `code` of a thrown value (a FileSystemError, a Node fs error, a RaftchartError), or undefined. */
export function errorCodeOf(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' ? code : undefined;
}

function describeCode(code: string): string {
  switch (code) {
    case 'EIO':
      return 'i/o error';
    case 'ENOSPC':
      return 'no space left on device';
    case 'ENOENT':
      return 'no such file or directory';
    case 'EEXIST':
      return 'file already exists';
    case 'EBADF':
      return 'bad file descriptor';
    case 'EISDIR':
      return 'illegal operation on a directory';
    case 'ENOTDIR':
      return 'not a directory';
    default:
      return 'file system error';
  }
}
