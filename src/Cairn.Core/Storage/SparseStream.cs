using System.Buffers.Binary;
using System.Numerics;
using System.Runtime.InteropServices;

namespace Cairn.Core.Storage;

/// <summary>
/// The wire format Cairn uses to move volume images without their holes and zero blocks
/// (media type <see cref="MediaType"/>):
/// <code>
/// header: "CAIRNSP1" (8 bytes) | image size (u64 BE)
/// record: offset (u64 BE) | length (u32 BE) | length bytes of data          (repeated, offsets ascending)
/// end:    offset = 0xFFFFFFFFFFFFFFFF | length 0
/// </code>
/// Everything not covered by a record reads as zeros.
/// </summary>
public static class SparseStream
{
    public const string MediaType = "application/vnd.cairn.sparse";

    /// <summary>Body type of an import that names a file on the server's host (<c>{"path": …}</c>) instead of sending it.</summary>
    public const string LocalFileMediaType = "application/vnd.cairn.local-file+json";
    public const int HeaderSize = 16;
    public const int RecordHeaderSize = 12;
    public const ulong EndMarker = ulong.MaxValue;

    /// <summary>Largest data length in one record.</summary>
    public const int MaxRecordLength = 16 << 20;

    private static ReadOnlySpan<byte> Magic => "CAIRNSP1"u8;

    public static void WriteHeader(Span<byte> dst, long size)
    {
        Magic.CopyTo(dst);
        BinaryPrimitives.WriteUInt64BigEndian(dst[8..], (ulong)size);
    }

    public static bool TryReadHeader(ReadOnlySpan<byte> src, out long size)
    {
        size = 0;
        if (src.Length < HeaderSize || !src[..8].SequenceEqual(Magic)) return false;
        var s = BinaryPrimitives.ReadUInt64BigEndian(src[8..]);
        if (s > long.MaxValue) return false;
        size = (long)s;
        return true;
    }

    public static void WriteRecordHeader(Span<byte> dst, ulong offset, int length)
    {
        BinaryPrimitives.WriteUInt64BigEndian(dst, offset);
        BinaryPrimitives.WriteUInt32BigEndian(dst[8..], (uint)length);
    }

    public static (ulong Offset, uint Length) ReadRecordHeader(ReadOnlySpan<byte> src) =>
        (BinaryPrimitives.ReadUInt64BigEndian(src), BinaryPrimitives.ReadUInt32BigEndian(src[8..]));

    /// <summary>True when every byte is zero (vectorised).</summary>
    public static bool IsZero(ReadOnlySpan<byte> data)
    {
        var longs = MemoryMarshal.Cast<byte, ulong>(data);
        if (Vector.IsHardwareAccelerated && longs.Length >= Vector<ulong>.Count)
        {
            var vecs = MemoryMarshal.Cast<ulong, Vector<ulong>>(longs);
            foreach (var v in vecs) if (v != Vector<ulong>.Zero) return false;
            longs = longs[(vecs.Length * Vector<ulong>.Count)..];
        }
        foreach (var l in longs) if (l != 0) return false;
        for (int i = data.Length & ~7; i < data.Length; i++) if (data[i] != 0) return false;
        return true;
    }

    /// <summary>
    /// Splits <paramref name="data"/> (at image offset <paramref name="offset"/>) into runs of non-zero blocks of
    /// <paramref name="block"/> bytes, calling <paramref name="emit"/> for each run (offset, slice).
    /// </summary>
    public static void ForEachNonZeroRun(long offset, ReadOnlySpan<byte> data, int block, NonZeroRun emit)
    {
        int runStart = -1;
        for (int pos = 0; pos < data.Length; pos += block)
        {
            var len = Math.Min(block, data.Length - pos);
            bool zero = IsZero(data.Slice(pos, len));
            if (!zero && runStart < 0) runStart = pos;
            else if (zero && runStart >= 0)
            {
                emit(offset + runStart, data[runStart..pos]);
                runStart = -1;
            }
        }
        if (runStart >= 0) emit(offset + runStart, data[runStart..]);
    }

    /// <summary>Callback of <see cref="ForEachNonZeroRun"/>.</summary>
    public delegate void NonZeroRun(long offset, ReadOnlySpan<byte> data);
}
