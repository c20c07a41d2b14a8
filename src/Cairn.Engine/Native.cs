using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Cairn.Engine;

/// <summary>The few libc calls .NET does not expose: hole punching, fdatasync, directory fsync, statvfs.</summary>
internal static partial class Native
{
    private const int FALLOC_FL_KEEP_SIZE = 0x01;
    private const int FALLOC_FL_PUNCH_HOLE = 0x02;
    private const int O_RDONLY = 0;
    // O_DIRECTORY differs by architecture: 0200000 on x86-64, 040000 on arm and arm64.
    private static readonly int O_DIRECTORY =
        RuntimeInformation.ProcessArchitecture is Architecture.Arm64 or Architecture.Arm ? 0x4000 : 0x10000;
    private const int O_CLOEXEC = 0x80000;

    [LibraryImport("libc", SetLastError = true)]
    private static partial int fallocate(int fd, int mode, long offset, long len);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int fdatasync(int fd);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int fsync(int fd);

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int open_(string path, int flags);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int close(int fd);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int statvfs(string path, out StatVfs buf);

    [StructLayout(LayoutKind.Sequential)]
    internal struct StatVfs
    {
        public ulong f_bsize, f_frsize, f_blocks, f_bfree, f_bavail, f_files, f_ffree, f_favail, f_fsid, f_flag, f_namemax;
        public int spare0, spare1, spare2, spare3, spare4, spare5;
    }

    /// <summary>Frees the blocks of <c>[offset, offset+length)</c>; the range reads as zeros afterwards.</summary>
    public static void PunchHole(SafeFileHandle file, long offset, long length)
    {
        if (length <= 0) return;
        bool added = false;
        file.DangerousAddRef(ref added);
        try
        {
            if (fallocate((int)file.DangerousGetHandle(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, offset, length) != 0)
            {
                int errno = Marshal.GetLastPInvokeError();
                // EOPNOTSUPP (95): the filesystem cannot punch; the map already says zero, so only space is lost.
                if (errno != 95) throw new IOException($"fallocate(PUNCH_HOLE) failed: errno {errno}");
            }
        }
        finally { if (added) file.DangerousRelease(); }
    }

    /// <summary>fdatasync: the file's data (and the metadata needed to read it) is durable on return.</summary>
    public static void DataSync(SafeFileHandle file)
    {
        bool added = false;
        file.DangerousAddRef(ref added);
        try
        {
            if (fdatasync((int)file.DangerousGetHandle()) != 0)
                throw new IOException($"fdatasync failed: errno {Marshal.GetLastPInvokeError()}");
        }
        finally { if (added) file.DangerousRelease(); }
    }

    /// <summary>fsync of a directory, so that created, renamed or removed entries are durable.</summary>
    public static void SyncDirectory(string path)
    {
        int fd = open_(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0) throw new IOException($"open({path}) failed: errno {Marshal.GetLastPInvokeError()}");
        try
        {
            if (fsync(fd) != 0) throw new IOException($"fsync({path}) failed: errno {Marshal.GetLastPInvokeError()}");
        }
        finally { _ = close(fd); }
    }

    /// <summary>Capacity and free bytes of the filesystem holding <paramref name="path"/>.</summary>
    public static (long Size, long Free) FileSystemSpace(string path)
    {
        if (statvfs(path, out var s) != 0)
            throw new IOException($"statvfs({path}) failed: errno {Marshal.GetLastPInvokeError()}");
        return ((long)(s.f_blocks * s.f_frsize), (long)(s.f_bavail * s.f_frsize));
    }
}
