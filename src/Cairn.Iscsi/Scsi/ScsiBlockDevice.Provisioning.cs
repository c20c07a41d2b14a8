using System.Buffers;
using System.Buffers.Binary;

namespace Cairn.Iscsi.Scsi;

public sealed partial class ScsiBlockDevice
{
    // SBC-3 §5.42/5.43 WRITE SAME (10/16). 0 blocks means up to the last LBA (WSNZ 0), within MAXIMUM WRITE SAME
    // LENGTH; ANCHOR is refused (ANC_SUP 0). With UNMAP the range is deallocated whatever the pattern (SBC-3
    // §4.7.3.4; LBPRZ: it then reads as zeros); without it a zero pattern still writes zeros without unmapping.
    private ScsiResult WriteSame(long lba, long blocks, byte flags, bool ndob, ReadOnlySpan<byte> dataOut, uint edtl, int lengthField)
    {
        if ((flags & 0xE0) != 0) return InvalidField(1, 7);
        if ((flags & 0x10) != 0) return InvalidField(1, 4);
        bool unmap = (flags & 0x08) != 0;
        if (OutOfRange(lba, blocks)) return LbaOutOfRange();
        if (blocks == 0) blocks = Blocks - lba;
        if (blocks == 0) return ScsiResult.Good(0, ndob ? 0 : BlockSize);
        if (blocks > _options.MaxWriteSameBlocks) return InvalidField(lengthField);
        if (WriteProtected) return WriteProtectedResult();
        if (!ndob && (edtl != BlockSize || dataOut.Length != BlockSize)) return InvalidField(lengthField);

        ReadOnlySpan<byte> pattern = ndob ? default : dataOut[..BlockSize];
        bool zeros = ndob || unmap || !pattern.ContainsAnyExcept((byte)0);
        long offset = lba << BlockShift, length = blocks << BlockShift;
        EnterWrite();
        try
        {
            if (zeros)
                _device.WriteZeroes(offset, length, unmap);
            else
                WritePattern(offset, length, pattern);
            if (!_wce) _device.Flush();
        }
        finally { ExitWrite(); }
        return ScsiResult.Good(0, ndob ? 0 : BlockSize);
    }

    private void WritePattern(long offset, long length, ReadOnlySpan<byte> block)
    {
        int chunk = (int)Math.Min(length, 256 * 1024);
        var buf = ArrayPool<byte>.Shared.Rent(chunk);
        try
        {
            var span = buf.AsSpan(0, chunk);
            for (int i = 0; i < chunk; i += BlockSize) block.CopyTo(span[i..]);
            for (long done = 0; done < length;)
            {
                int n = (int)Math.Min(chunk, length - done);
                _device.Write(offset + done, span[..n], fua: false);
                done += n;
            }
        }
        finally { ArrayPool<byte>.Shared.Return(buf); }
    }

    // SBC-3 §5.28 UNMAP: validates the whole parameter list before freeing anything.
    private ScsiResult Unmap(ReadOnlySpan<byte> cdb, ReadOnlySpan<byte> dataOut)
    {
        if ((cdb[1] & 0x01) != 0) return InvalidField(1, 0);
        int listLength = Be16(cdb, 7);
        if (listLength == 0) return ScsiResult.Good(0, 0);
        if (listLength < 8 || dataOut.Length < 8) return ParameterListLengthError();
        if (WriteProtected) return WriteProtectedResult();
        var p = dataOut[..Math.Min(listLength, dataOut.Length)];
        int dataLength = Be16(p, 0);
        int descLength = Be16(p, 2);
        if (dataLength + 2 > p.Length || descLength + 8 > p.Length) return ParameterListLengthError();
        int count = descLength / 16;
        if (count > _options.MaxUnmapDescriptors) return InvalidParameter(2);
        for (int i = 0; i < count; i++)
        {
            var d = p.Slice(8 + i * 16, 16);
            long lba = Be64(d, 0);
            uint n = Be32(d, 8);
            if (OutOfRange(lba, n)) return LbaOutOfRange();
            if (n > _options.MaxUnmapBlocks) return InvalidParameter(8 + i * 16 + 8);
        }
        EnterWrite();
        try
        {
            for (int i = 0; i < count; i++)
            {
                var d = p.Slice(8 + i * 16, 16);
                long lba = Be64(d, 0);
                uint n = Be32(d, 8);
                if (n != 0) _device.Discard(lba << BlockShift, (long)n << BlockShift);
            }
        }
        finally { ExitWrite(); }
        return ScsiResult.Good(0, listLength);
    }

    /// <summary>The largest window GET LBA STATUS inspects at once (the last descriptor may stop short of it).</summary>
    private const long LbaStatusWindowBlocks = 1L << 21;

    // SBC-3 §5.7 GET LBA STATUS: mapped / deallocated extents from the device's allocation map.
    private ScsiResult GetLbaStatus(ReadOnlySpan<byte> cdb, Span<byte> dataIn)
    {
        long lba = Be64(cdb, 2);
        uint alloc = Be32(cdb, 10);
        long cap = Blocks;
        if ((ulong)lba >= (ulong)cap) return LbaOutOfRange();
        if (alloc == 0) return ScsiResult.Good(0, 0);

        int maxDesc = (int)Math.Clamp((Math.Min(alloc, 1u << 20) - 8) / 16, 1, 4096);
        long window = Math.Min(cap - lba, LbaStatusWindowBlocks);
        var ranges = _device.GetAllocatedRanges(lba << BlockShift, window << BlockShift);

        var descriptors = new List<(long Lba, long Blocks, byte Status)>();
        long at = lba, end = lba + window;
        foreach (var r in ranges)
        {
            if (descriptors.Count >= maxDesc) break;
            // Round inward-for-mapped would hide partial data; round outward so anything stored reads as mapped.
            long rs = Math.Max(r.Offset >> BlockShift, lba);
            long re = Math.Min((r.End + BlockSize - 1) >> BlockShift, end);
            if (re <= at) continue;
            if (rs > at) { Add(at, rs - at, 1); at = rs; }
            if (descriptors.Count >= maxDesc) break;
            Add(at, re - at, 0);
            at = re;
        }
        if (at < end && descriptors.Count < maxDesc) Add(at, end - at, 1);

        int len = 8 + descriptors.Count * 16;
        var buf = new byte[len];
        BinaryPrimitives.WriteUInt32BigEndian(buf, (uint)(len - 4));
        for (int i = 0; i < descriptors.Count; i++)
        {
            var d = buf.AsSpan(8 + i * 16);
            BinaryPrimitives.WriteInt64BigEndian(d, descriptors[i].Lba);
            BinaryPrimitives.WriteUInt32BigEndian(d[8..], (uint)Math.Min(descriptors[i].Blocks, uint.MaxValue));
            d[12] = descriptors[i].Status;
        }
        return DataIn(buf, dataIn, alloc);

        void Add(long start, long count, byte status)
        {
            // Extents longer than 2^32-1 blocks are split.
            while (count > 0 && descriptors.Count < maxDesc)
            {
                long n = Math.Min(count, uint.MaxValue);
                if (descriptors.Count > 0 && descriptors[^1].Status == status && descriptors[^1].Lba + descriptors[^1].Blocks == start
                    && descriptors[^1].Blocks + n <= uint.MaxValue)
                    descriptors[^1] = (descriptors[^1].Lba, descriptors[^1].Blocks + n, status);
                else
                    descriptors.Add((start, n, status));
                start += n;
                count -= n;
            }
        }
    }

    // SBC-3 §5.25 SANITIZE: BLOCK ERASE deallocates every block (thin: reads return zeros afterwards);
    // EXIT FAILURE MODE is accepted (a block erase cannot leave the unit in failure mode).
    private ScsiResult Sanitize(ReadOnlySpan<byte> cdb)
    {
        int sa = cdb[1] & 0x1F;
        if (Be16(cdb, 7) != 0) return InvalidField(7);
        if (sa == 0x1F) return ScsiResult.Good(0, 0);
        if (WriteProtected) return WriteProtectedResult();
        long length = Blocks << BlockShift;
        EnterWrite();
        try
        {
            _device.Discard(0, length);
            _device.Flush();
        }
        finally { ExitWrite(); }
        return ScsiResult.Good(0, 0);
    }
}
