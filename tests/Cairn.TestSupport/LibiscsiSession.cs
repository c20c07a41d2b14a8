using System.Runtime.InteropServices;

namespace Cairn.TestSupport;

/// <summary>
/// One session through libiscsi itself (libiscsi.so.7, the library behind iscsi-ls/iscsi-inq; libiscsi-bin ships no
/// tool that moves data): login as a given initiator (with one-way or mutual CHAP), READ(10) and WRITE(10), logout on
/// dispose. Independent of Cairn's own iSCSI code, so it checks any target the same way.
/// libiscsi's synchronous calls fail ("Poll failed") when a signal interrupts their poll(), and the test process gets a
/// SIGCHLD whenever one of its commands (tgtadm, zfs, iscsi-ls…) ends; each call therefore runs with SIGCHLD blocked on
/// its thread, so the signal goes to another thread.
/// </summary>
public sealed partial class LibiscsiSession : IDisposable
{
    private const string Lib = "libiscsi.so.7";
    private const int SessionNormal = 2;
    private const int Chunk = 64 * 1024;

    /// <summary>How long one synchronous libiscsi call (a command, the login, the logout) may take before it fails.</summary>
    public const int CallTimeoutSeconds = 30;

    private readonly int _lun;
    private readonly int _blockSize;
    private IntPtr _ctx;

    private LibiscsiSession(IntPtr ctx, int lun, int blockSize)
    {
        _ctx = ctx;
        _lun = lun;
        _blockSize = blockSize;
    }

    /// <summary>
    /// Logs in to LUN <paramref name="lun"/> of <paramref name="target"/> at <paramref name="portal"/> (HOST:PORT), whose
    /// logical blocks are <paramref name="blockSize"/> bytes; throws with libiscsi's reason when the login fails.
    /// </summary>
    public static LibiscsiSession Open(string portal, string initiator, string target, int lun, int blockSize = 512,
        (string User, string Secret)? chap = null, (string User, string Secret)? mutual = null)
    {
        ExternalTool.RequireLibrary(Lib, "libiscsi7");
        using var quiet = new NoSigChld();
        var ctx = iscsi_create_context(initiator);
        if (ctx == IntPtr.Zero) throw new InvalidOperationException("iscsi_create_context failed");
        try
        {
            // Bounded and explicit: every synchronous call (login and logout included) gives up after CallTimeoutSeconds,
            // and a dropped connection is an error instead of a silent reconnect, which would retry forever with the
            // server gone and, when it succeeds, consume the unit attentions the test is looking for.
            Check(ctx, iscsi_set_timeout(ctx, CallTimeoutSeconds), "iscsi_set_timeout");
            iscsi_set_noautoreconnect(ctx, 1);
            Check(ctx, iscsi_set_targetname(ctx, target), "iscsi_set_targetname");
            Check(ctx, iscsi_set_session_type(ctx, SessionNormal), "iscsi_set_session_type");
            if (chap is { } c) Check(ctx, iscsi_set_initiator_username_pwd(ctx, c.User, c.Secret), "iscsi_set_initiator_username_pwd");
            if (mutual is { } m) Check(ctx, iscsi_set_target_username_pwd(ctx, m.User, m.Secret), "iscsi_set_target_username_pwd");
            if (iscsi_full_connect_sync(ctx, portal, lun) != 0) throw new InvalidOperationException("login failed: " + Error(ctx));
            return new LibiscsiSession(ctx, lun, blockSize);
        }
        catch
        {
            _ = iscsi_destroy_context(ctx);
            throw;
        }
    }

    /// <summary>Reads <paramref name="length"/> bytes of LUN 0 of <paramref name="target"/> at 127.0.0.1:<paramref name="port"/>.</summary>
    public static byte[] Read(int port, string initiator, string target, int length)
    {
        using var s = Open($"127.0.0.1:{port}", initiator, target, 0);
        return s.Read(0, length);
    }

    /// <summary>Reads <paramref name="length"/> bytes (a multiple of the block size) from <paramref name="offset"/>; throws when a command fails.</summary>
    public byte[] Read(long offset, int length)
    {
        using var quiet = new NoSigChld();
        var result = new byte[length];
        for (int at = 0; at < length; at += Chunk)
        {
            int n = Math.Min(Chunk, length - at);
            var task = iscsi_read10_sync(_ctx, _lun, Lba(offset + at), (uint)n, _blockSize, 0, 0, 0, 0, 0);
            if (task == IntPtr.Zero) throw new InvalidOperationException("READ(10) failed: " + Error(_ctx));
            try
            {
                if (Marshal.ReadInt32(task) != 0) throw new InvalidOperationException($"READ(10) status {Marshal.ReadInt32(task)}: {Error(_ctx)}");
                Marshal.Copy(DataIn(task, n), result, at, n);
            }
            finally
            {
                scsi_free_scsi_task(task);
            }
        }
        return result;
    }

    /// <summary>
    /// Writes <paramref name="data"/> (a multiple of the block size) at <paramref name="offset"/> with FUA; returns null
    /// when every command succeeded, else libiscsi's reason (for a CHECK CONDITION it names the sense key, e.g. DATA PROTECTION).
    /// </summary>
    public string? TryWrite(long offset, byte[] data)
    {
        using var quiet = new NoSigChld();
        for (int at = 0; at < data.Length; at += Chunk)
        {
            int n = Math.Min(Chunk, data.Length - at);
            var handle = GCHandle.Alloc(data, GCHandleType.Pinned);
            IntPtr task;
            try
            {
                task = iscsi_write10_sync(_ctx, _lun, Lba(offset + at), handle.AddrOfPinnedObject() + at, (uint)n, _blockSize, 0, 0, 1, 0, 0);
            }
            finally
            {
                handle.Free();
            }
            if (task == IntPtr.Zero) return "WRITE(10) failed: " + Error(_ctx);
            try
            {
                var status = Marshal.ReadInt32(task);
                if (status != 0) return $"WRITE(10) status {status}: {Error(_ctx)}";
            }
            finally
            {
                scsi_free_scsi_task(task);
            }
        }
        return null;
    }

    /// <summary>Writes, throwing with libiscsi's reason when a command fails.</summary>
    public void Write(long offset, byte[] data)
    {
        if (TryWrite(offset, data) is { } why) throw new InvalidOperationException(why);
    }

    /// <summary>
    /// TEST UNIT READY: the SCSI status and, for CHECK CONDITION, the sense key and additional sense code/qualifier as
    /// libiscsi parsed them (e.g. 6, 0x2A, 0x09 for CAPACITY DATA HAS CHANGED).
    /// </summary>
    public (int Status, int Key, int Asc, int Ascq) TestUnitReady()
    {
        using var quiet = new NoSigChld();
        var task = iscsi_testunitready_sync(_ctx, _lun);
        if (task == IntPtr.Zero) throw new InvalidOperationException("TEST UNIT READY failed: " + Error(_ctx));
        try
        {
            int status = Marshal.ReadInt32(task);
            if (status != 2) return (status, 0, 0, 0);
            // struct scsi_sense after residual (offset 48): unsigned char error_type; enum key; enum ascq (ASC << 8 | ASCQ).
            byte errorType = Marshal.ReadByte(task, SenseOffset);
            if ((errorType & 0x7E) != 0x70) throw new InvalidOperationException($"unexpected libiscsi task layout (sense response code 0x{errorType:x2})");
            int key = Marshal.ReadInt32(task, SenseOffset + 4), ascq = Marshal.ReadInt32(task, SenseOffset + 8);
            return (status, key, ascq >> 8, ascq & 0xFF);
        }
        finally
        {
            scsi_free_scsi_task(task);
        }
    }

    /// <summary>READ CAPACITY (16): the number of logical blocks and the block length; throws when the command fails.</summary>
    public (long Blocks, int BlockSize) ReadCapacity16()
    {
        using var quiet = new NoSigChld();
        var task = iscsi_readcapacity16_sync(_ctx, _lun);
        if (task == IntPtr.Zero) throw new InvalidOperationException("READ CAPACITY(16) failed: " + Error(_ctx));
        try
        {
            if (Marshal.ReadInt32(task) != 0) throw new InvalidOperationException($"READ CAPACITY(16) status {Marshal.ReadInt32(task)}: {Error(_ctx)}");
            var b = new byte[32];
            Marshal.Copy(DataIn(task, 32), b, 0, 32);
            return ((long)System.Buffers.Binary.BinaryPrimitives.ReadUInt64BigEndian(b) + 1, System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(b.AsSpan(8)));
        }
        finally
        {
            scsi_free_scsi_task(task);
        }
    }

    private const int SenseOffset = 48;

    private uint Lba(long offset) => checked((uint)(offset / _blockSize));

    public void Dispose()
    {
        if (_ctx == IntPtr.Zero) return;
        using var quiet = new NoSigChld();
        _ = iscsi_logout_sync(_ctx); // best effort: the commands are done
        _ = iscsi_destroy_context(_ctx);
        _ctx = IntPtr.Zero;
    }

    private static void Check(IntPtr ctx, int rc, string call)
    {
        if (rc != 0) throw new InvalidOperationException(call + ": " + Error(ctx));
    }

    private static string Error(IntPtr ctx) => Marshal.PtrToStringUTF8(iscsi_get_error(ctx)) ?? "";

    // struct scsi_task (scsi-lowlevel.h): status, cdb_size, xfer_dir, expxferlen, cdb[16], residual_status, size_t
    // residual, struct scsi_sense, struct scsi_data datain { int size; unsigned char *data; }. The sense struct's
    // size depends on how the compiler packed its bit-fields, so datain is found by its size field.
    private static IntPtr DataIn(IntPtr task, int expected)
    {
        foreach (var off in new[] { 64, 72, 80 })
        {
            if (Marshal.ReadInt32(task, off) == expected && Marshal.ReadIntPtr(task, off + 8) is var p && p != IntPtr.Zero) return p;
        }
        throw new InvalidOperationException("could not find the data-in buffer of the libiscsi task");
    }

    /// <summary>Blocks SIGCHLD on this thread until disposed (the thread's previous mask comes back).</summary>
    private readonly struct NoSigChld : IDisposable
    {
        private const int SigBlock = 0, SigSetMask = 2, SigChld = 17; // Linux x86-64 and arm64
        private readonly byte[] _old = new byte[128]; // sigset_t (glibc: 1024 bits)

        public NoSigChld()
        {
            var set = new byte[128];
            if (sigemptyset(set) != 0 || sigaddset(set, SigChld) != 0 || pthread_sigmask(SigBlock, set, _old) != 0)
                throw new InvalidOperationException("could not block SIGCHLD");
        }

        public void Dispose() => _ = pthread_sigmask(SigSetMask, _old, null);
    }

    [LibraryImport("libc")]
    private static partial int sigemptyset([Out] byte[] set);

    [LibraryImport("libc")]
    private static partial int sigaddset([In, Out] byte[] set, int signum);

    [LibraryImport("libc")]
    private static partial int pthread_sigmask(int how, [In] byte[] set, [Out] byte[]? oldset);

    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)]
    private static partial IntPtr iscsi_create_context(string initiatorName);

    [LibraryImport(Lib)]
    private static partial int iscsi_destroy_context(IntPtr iscsi);

    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int iscsi_set_targetname(IntPtr iscsi, string targetName);

    [LibraryImport(Lib)]
    private static partial int iscsi_set_session_type(IntPtr iscsi, int type);

    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int iscsi_set_initiator_username_pwd(IntPtr iscsi, string user, string passwd);

    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int iscsi_set_target_username_pwd(IntPtr iscsi, string user, string passwd);

    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int iscsi_full_connect_sync(IntPtr iscsi, string portal, int lun);

    [LibraryImport(Lib)]
    private static partial IntPtr iscsi_read10_sync(IntPtr iscsi, int lun, uint lba, uint datalen, int blocksize, int rdprotect, int dpo, int fua, int fuaNv, int groupNumber);

    [LibraryImport(Lib)]
    private static partial IntPtr iscsi_write10_sync(IntPtr iscsi, int lun, uint lba, IntPtr data, uint datalen, int blocksize, int wrprotect, int dpo, int fua, int fuaNv, int groupNumber);

    [LibraryImport(Lib)]
    private static partial IntPtr iscsi_testunitready_sync(IntPtr iscsi, int lun);

    [LibraryImport(Lib)]
    private static partial int iscsi_set_timeout(IntPtr iscsi, int timeout);

    [LibraryImport(Lib)]
    private static partial void iscsi_set_noautoreconnect(IntPtr iscsi, int state);

    [LibraryImport(Lib)]
    private static partial IntPtr iscsi_readcapacity16_sync(IntPtr iscsi, int lun);

    [LibraryImport(Lib)]
    private static partial void scsi_free_scsi_task(IntPtr task);

    [LibraryImport(Lib)]
    private static partial IntPtr iscsi_get_error(IntPtr iscsi);

    [LibraryImport(Lib)]
    private static partial int iscsi_logout_sync(IntPtr iscsi);
}
