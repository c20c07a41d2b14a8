using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Cairn.Archive;

/// <summary>
/// Only a plain file name inside the backup directory: no <c>/</c>, no <c>.</c> or <c>..</c>, no NUL; the file is
/// opened with O_NOFOLLOW (every symlink is refused, even one pointing inside: an archive is a file the directory holds)
/// and must be a regular file.
/// </summary>
public static partial class BackupDirectory
{
    private const int O_RDONLY = 0, O_NONBLOCK = 0x800, O_NOFOLLOW = 0x20000, O_CLOEXEC = 0x80000, O_DIRECTORY = 0x10000;
    private const int AT_EMPTY_PATH = 0x1000, STATX_TYPE = 1, S_IFMT = 0xF000, S_IFREG = 0x8000;
    private const int ELOOP = 40;

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "statx", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static unsafe partial int Statx(int dirfd, string path, int flags, uint mask, byte* buf);

    [LibraryImport("libc", EntryPoint = "fsync", SetLastError = true)]
    internal static partial int Fsync(int fd);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    internal static partial int Close(int fd);

    internal static int OpenDirectory(string directory)
    {
        var fd = Open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        return fd >= 0 ? fd : throw new IOException($"cannot open directory {directory}: errno {Marshal.GetLastPInvokeError()}");
    }

    /// <summary>Checks <paramref name="fileName"/> is a plain name and returns its path in <paramref name="directory"/>.</summary>
    public static string PathOf(string directory, string fileName)
    {
        if (string.IsNullOrEmpty(fileName) || fileName is "." or ".." || fileName.Contains('/', StringComparison.Ordinal)
            || fileName.Contains('\0', StringComparison.Ordinal) || fileName.Length > 255)
            throw new ArchiveException(ArchiveError.BadFileName,
                $"file_name must be a plain file name in the backup directory: '{fileName.Replace('\0', '?')}'");
        return Path.Combine(directory, fileName);
    }

    /// <summary>
    /// Opens an archive in the backup directory for reading. Throws <see cref="ArchiveException"/>
    /// (<see cref="ArchiveError.BadFileName"/>) for a name that is not plain, a symlink, or a non-regular file, and
    /// <see cref="FileNotFoundException"/> when it is not there.
    /// </summary>
    public static unsafe FileStream OpenRead(string directory, string fileName)
    {
        var path = PathOf(directory, fileName);
        // O_NONBLOCK: opening a FIFO must not hang; it is refused just below.
        var fd = Open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            if (errno == ELOOP) throw new ArchiveException(ArchiveError.BadFileName, $"{fileName} is a symbolic link");
            if (errno == 2) throw new FileNotFoundException($"no archive {fileName} in the backup directory", fileName);
            throw new IOException($"cannot open {fileName}: errno {errno}");
        }
#pragma warning disable CA2000 // disposed on failure below; on success the FileStream owns it
        var handle = new SafeFileHandle(fd, ownsHandle: true);
#pragma warning restore CA2000
        try
        {
            var buf = stackalloc byte[256];
            if (Statx(fd, "", AT_EMPTY_PATH, STATX_TYPE, buf) != 0)
                throw new IOException($"statx({fileName}) failed: errno {Marshal.GetLastPInvokeError()}");
            var mode = *(ushort*)(buf + 28); // struct statx: stx_mode at offset 28 on every architecture
            if ((mode & S_IFMT) != S_IFREG)
                throw new ArchiveException(ArchiveError.BadFileName, $"{fileName} is not a regular file");
            return new FileStream(handle, FileAccess.Read, 1 << 16);
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }
}

/// <summary>fsync of a directory, so that a rename in it is durable.</summary>
internal static class DirectorySync
{
    public static void Fsync(string directory)
    {
        var fd = BackupDirectory.OpenDirectory(directory);
        try
        {
            if (BackupDirectory.Fsync(fd) != 0) throw new IOException($"fsync({directory}) failed: errno {Marshal.GetLastPInvokeError()}");
        }
        finally { _ = BackupDirectory.Close(fd); }
    }
}
