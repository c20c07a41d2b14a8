using System.Buffers.Binary;
using System.Numerics;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Cairn.Engine;

/// <summary>
/// Append-only log of map pages: each record is the whole state of one 16 MiB page of a layer's map, checksummed, last
/// record of a page wins. A torn tail (crash mid-append) fails its checksum and is cut off at load.
/// </summary>
internal static class MapLog
{
    private const uint Magic = 0x50414D43; // "CMAP"
    public const int HeaderSize = 16;
    public const int PayloadWords = MapPage.Words * 2;
    public const int RecordSize = HeaderSize + PayloadWords * 8;

    /// <summary>Serialises a page state (data words then zero words) into <paramref name="dst"/>.</summary>
    public static void Encode(long pageIndex, ReadOnlySpan<ulong> state, Span<byte> dst)
    {
        var payload = MemoryMarshal.Cast<byte, ulong>(dst.Slice(HeaderSize, PayloadWords * 8));
        if (BitConverter.IsLittleEndian) state.CopyTo(payload);
        else for (int i = 0; i < state.Length; i++) payload[i] = BinaryPrimitives.ReverseEndianness(state[i]);
        BinaryPrimitives.WriteUInt32LittleEndian(dst, Magic);
        BinaryPrimitives.WriteInt64LittleEndian(dst[8..], pageIndex);
        BinaryPrimitives.WriteUInt32LittleEndian(dst[4..], Checksum(dst[..RecordSize]));
    }

    private static uint Checksum(ReadOnlySpan<byte> record)
    {
        uint crc = BitOperations.Crc32C(Magic, BinaryPrimitives.ReadUInt64LittleEndian(record[8..]));
        foreach (var w in MemoryMarshal.Cast<byte, ulong>(record[HeaderSize..RecordSize])) crc = BitOperations.Crc32C(crc, w);
        return ~crc;
    }

    /// <summary>Replays a log into <paramref name="map"/>; returns the length of the valid prefix.</summary>
    public static long Load(SafeFileHandle file, BlockMap map)
    {
        long length = RandomAccess.GetLength(file);
        const int chunkRecords = 256;
        var buf = new byte[RecordSize * chunkRecords];
        var state = new ulong[PayloadWords];
        long pos = 0;
        while (pos < length)
        {
            int want = (int)Math.Min(buf.Length, length - pos);
            int got = ReadFully(file, buf.AsSpan(0, want), pos);
            int off = 0;
            while (off + RecordSize <= got)
            {
                var rec = buf.AsSpan(off, RecordSize);
                if (BinaryPrimitives.ReadUInt32LittleEndian(rec) != Magic ||
                    BinaryPrimitives.ReadUInt32LittleEndian(rec[4..]) != Checksum(rec))
                    return pos + off;
                long pageIndex = BinaryPrimitives.ReadInt64LittleEndian(rec[8..]);
                var payload = rec[HeaderSize..];
                for (int i = 0; i < PayloadWords; i++) state[i] = BinaryPrimitives.ReadUInt64LittleEndian(payload[(i * 8)..]);
                map.Load(pageIndex, state.AsSpan(0, MapPage.Words), state.AsSpan(MapPage.Words));
                off += RecordSize;
            }
            if (off == 0) return pos; // torn partial record at the end
            pos += off;
        }
        return pos;
    }

    private static int ReadFully(SafeFileHandle file, Span<byte> buf, long offset)
    {
        int total = 0;
        while (total < buf.Length)
        {
            int n = RandomAccess.Read(file, buf[total..], offset + total);
            if (n <= 0) break;
            total += n;
        }
        return total;
    }
}
