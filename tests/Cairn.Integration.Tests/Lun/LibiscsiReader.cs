using System.Runtime.InteropServices;

namespace Cairn.Integration.Tests.Lun;

/// <summary>
/// Reads a LUN through libiscsi itself (libiscsi.so.7, the library behind iscsi-ls/iscsi-inq; libiscsi-bin ships no
/// tool that prints data): login as a given initiator, READ(10), logout. Independent of Cairn's own iSCSI code.
/// </summary>
internal static partial class LibiscsiReader
{
    private const string Lib = "libiscsi.so.7";
    private const int SessionNormal = 2;

    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)]
    private static partial IntPtr iscsi_create_context(string initiatorName);

    [LibraryImport(Lib)]
    private static partial int iscsi_destroy_context(IntPtr iscsi);

    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int iscsi_set_targetname(IntPtr iscsi, string targetName);

    [LibraryImport(Lib)]
    private static partial int iscsi_set_session_type(IntPtr iscsi, int type);

    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int iscsi_full_connect_sync(IntPtr iscsi, string portal, int lun);

    [LibraryImport(Lib)]
    private static partial IntPtr iscsi_read10_sync(IntPtr iscsi, int lun, uint lba, uint datalen, int blocksize, int rdprotect, int dpo, int fua, int fuaNv, int groupNumber);

    [LibraryImport(Lib)]
    private static partial void scsi_free_scsi_task(IntPtr task);

    [LibraryImport(Lib)]
    private static partial IntPtr iscsi_get_error(IntPtr iscsi);

    [LibraryImport(Lib)]
    private static partial int iscsi_logout_sync(IntPtr iscsi);

    /// <summary>Reads <paramref name="length"/> bytes from LUN 0 of <paramref name="target"/>; throws with libiscsi's reason on failure.</summary>
    public static byte[] Read(int port, string initiator, string target, int length)
    {
        var ctx = iscsi_create_context(initiator);
        if (ctx == IntPtr.Zero) throw new InvalidOperationException("iscsi_create_context failed");
        try
        {
            iscsi_set_targetname(ctx, target);
            if (iscsi_set_session_type(ctx, SessionNormal) != 0) throw new InvalidOperationException("iscsi_set_session_type: " + Marshal.PtrToStringUTF8(iscsi_get_error(ctx)));
            if (iscsi_full_connect_sync(ctx, $"127.0.0.1:{port}", 0) != 0)
                throw new InvalidOperationException("login failed: " + Marshal.PtrToStringUTF8(iscsi_get_error(ctx)));
            var result = new byte[length];
            const int Chunk = 64 * 1024;
            for (int at = 0; at < length; at += Chunk)
            {
                int n = Math.Min(Chunk, length - at);
                var task = iscsi_read10_sync(ctx, 0, (uint)(at / 512), (uint)n, 512, 0, 0, 0, 0, 0);
                if (task == IntPtr.Zero) throw new InvalidOperationException("READ(10) failed: " + Marshal.PtrToStringUTF8(iscsi_get_error(ctx)));
                try
                {
                    if (Marshal.ReadInt32(task) != 0) throw new InvalidOperationException($"READ(10) status {Marshal.ReadInt32(task)}");
                    Marshal.Copy(DataIn(task, n), result, at, n);
                }
                finally
                {
                    scsi_free_scsi_task(task);
                }
            }
            _ = iscsi_logout_sync(ctx); // best effort: the data is read already
            return result;
        }
        finally
        {
            _ = iscsi_destroy_context(ctx);
        }
    }

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
}
