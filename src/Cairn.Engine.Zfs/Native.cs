using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Cairn.Engine.Zfs;

/// <summary>libc calls .NET does not offer: fsync of a file or directory, hole punching, SEEK_DATA/SEEK_HOLE.</summary>
internal static partial class Native
{
    private const int FallocKeepSize = 0x01, FallocPunchHole = 0x02;
    private const int SeekData = 3, SeekHole = 4;
    private const int ENXIO = 6, EOPNOTSUPP = 95, EINVAL = 22;
    // open(2) flags; O_DIRECTORY is 0200000 on x86-64 and 040000 on arm/arm64.
    private static readonly int ODirectory = RuntimeInformation.ProcessArchitecture is Architecture.Arm64 or Architecture.Arm ? 0x4000 : 0x10000;
    private const int ORdOnly = 0, OCloExec = 0x80000;

    [LibraryImport("libc", SetLastError = true)]
    private static partial int fallocate(int fd, int mode, long offset, long len);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int fsync(int fd);

    [LibraryImport("libc", SetLastError = true)]
    private static partial long lseek(int fd, long offset, int whence);

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Open(string path, int flags);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int close(int fd);

    private static T WithFd<T>(SafeFileHandle h, Func<int, T> call)
    {
        bool added = false;
        h.DangerousAddRef(ref added);
        try { return call((int)h.DangerousGetHandle()); }
        finally { if (added) h.DangerousRelease(); }
    }

    /// <summary>fsync(2): the file's data and metadata are on stable storage on return (through FUSE: zfs-fuse commits its ZIL).</summary>
    public static void Sync(SafeFileHandle h)
    {
        if (WithFd(h, fsync) != 0) throw new IOException($"fsync failed: errno {Marshal.GetLastPInvokeError()}");
    }

    /// <summary>fsync of a directory, so that a created file's entry is durable.</summary>
    public static void SyncDirectory(string path)
    {
        int fd = Open(path, ORdOnly | ODirectory | OCloExec);
        if (fd < 0) throw new IOException($"open({path}) failed: errno {Marshal.GetLastPInvokeError()}");
        try
        {
            // EINVAL: some FUSE filesystems do not implement fsyncdir; the entry is then as durable as they make it.
            if (fsync(fd) != 0 && Marshal.GetLastPInvokeError() is var e && e != EINVAL && e != EOPNOTSUPP && e != 38)
                throw new IOException($"fsync({path}) failed: errno {e}");
        }
        finally { _ = close(fd); }
    }

    /// <summary>fallocate(2) PUNCH_HOLE|KEEP_SIZE; false when the filesystem cannot (zfs-fuse: EOPNOTSUPP).</summary>
    public static bool TryPunchHole(SafeFileHandle h, long offset, long length)
    {
        if (WithFd(h, fd => fallocate(fd, FallocPunchHole | FallocKeepSize, offset, length)) == 0) return true;
        int errno = Marshal.GetLastPInvokeError();
        if (errno is EOPNOTSUPP or EINVAL or 38) return false;
        throw new IOException($"fallocate(PUNCH_HOLE) failed: errno {errno}");
    }

    /// <summary>lseek(2) SEEK_DATA from <paramref name="offset"/>: the next data offset, or -1 when only a hole follows.</summary>
    public static long NextData(SafeFileHandle h, long offset) => Seek(h, offset, SeekData);

    /// <summary>lseek(2) SEEK_HOLE: the next hole (end of file counts as one).</summary>
    public static long NextHole(SafeFileHandle h, long offset) => Seek(h, offset, SeekHole);

    private static long Seek(SafeFileHandle h, long offset, int whence)
    {
        long r = WithFd(h, fd => lseek(fd, offset, whence));
        if (r >= 0) return r;
        int errno = Marshal.GetLastPInvokeError();
        if (errno == ENXIO) return -1;
        throw new IOException($"lseek(SEEK_{(whence == SeekData ? "DATA" : "HOLE")}) failed: errno {errno}");
    }
}
