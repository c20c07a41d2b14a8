using Cairn.Core.Storage;

namespace Cairn.Engine;

/// <summary>
/// The block I/O hot path over a stack seen as (mutable top layer, merged index of the frozen stack below). No locks
/// except for the copy-up of a partially written 4 KiB block that the top does not hold yet; no allocations.
/// </summary>
internal static class DataPath
{
    private const int BlockSize = BlockMap.BlockSize;
    private const int Shift = BlockMap.BlockShift;
    private static readonly byte[] Zeros = new byte[BlockSize];
    private static readonly Lock[] Stripes = CreateStripes();

    private static Lock[] CreateStripes()
    {
        var s = new Lock[64];
        for (int i = 0; i < s.Length; i++) s[i] = new Lock();
        return s;
    }

    /// <summary>Which layer holds block <paramref name="b"/>; null means it reads as zeros.</summary>
    private static Layer? Resolve(BlockMap? tm, Layer? top, MergedIndex? idx, long b)
    {
        if (tm is not null)
        {
            var p = tm.Page(b >> MapPage.Shift);
            if (p is not null)
            {
                int w = (int)(b >> 6) & (MapPage.Words - 1);
                ulong bit = 1UL << (int)(b & 63);
                if ((Volatile.Read(ref p.Data[w]) & bit) != 0) return top;
                if ((Volatile.Read(ref p.Zero[w]) & bit) != 0) return null;
            }
        }
        return idx?.Lookup(b);
    }

    public static void Read(Layer? top, MergedIndex? idx, long offset, Span<byte> buf)
    {
        var tm = top?.Map;
        long pos = offset, end = offset + buf.Length;
        while (pos < end)
        {
            long b = pos >> Shift;
            var src = Resolve(tm, top, idx, b);
            long runEnd = Math.Min(end, (b + 1) << Shift);
            while (runEnd < end && ReferenceEquals(Resolve(tm, top, idx, runEnd >> Shift), src))
                runEnd = Math.Min(end, runEnd + BlockSize);
            var dst = buf.Slice((int)(pos - offset), (int)(runEnd - pos));
            if (src is null) dst.Clear();
            else src.ReadAt(pos, dst);
            pos = runEnd;
        }
    }

    public static void Write(Layer top, MergedIndex? idx, long offset, ReadOnlySpan<byte> data)
    {
        var tm = top.Map;
        long pos = offset, end = offset + data.Length;
        if ((pos & (BlockSize - 1)) != 0 || end - pos < BlockSize)
        {
            long blockEnd = Math.Min(end, ((pos >> Shift) + 1) << Shift);
            WritePartial(top, tm, idx, pos, data[..(int)(blockEnd - pos)]);
            pos = blockEnd;
        }
        long alignedEnd = end & ~(long)(BlockSize - 1);
        if (alignedEnd > pos)
        {
            // Whole blocks: written in place, no copy-up, one syscall.
            top.WriteAt(pos, data.Slice((int)(pos - offset), (int)(alignedEnd - pos)));
            tm.SetData(pos >> Shift, (alignedEnd - pos) >> Shift);
            pos = alignedEnd;
        }
        if (pos < end) WritePartial(top, tm, idx, pos, data[(int)(pos - offset)..]);
    }

    /// <summary>A write inside one block that does not cover it.</summary>
    private static void WritePartial(Layer top, BlockMap tm, MergedIndex? idx, long pos, ReadOnlySpan<byte> data)
    {
        long b = pos >> Shift;
        if (tm.State(b) == 1) { top.WriteAt(pos, data); return; }
        // Copy-up: the rest of the block comes from below. Serialised per block so that two partial writes to
        // different sectors of the same block do not undo each other.
        lock (Stripes[(int)(b & 63)])
        {
            if (tm.State(b) == 1) { top.WriteAt(pos, data); return; }
            Span<byte> blk = stackalloc byte[BlockSize];
            long start = b << Shift;
            var src = Resolve(tm, top, idx, b);
            if (src is null) blk.Clear();
            else src.ReadAt(start, blk);
            data.CopyTo(blk[(int)(pos - start)..]);
            top.WriteAt(start, blk);
            tm.SetData(b, 1);
        }
    }

    /// <summary>Makes the range read as zeros; whole blocks are unmapped and their space punched out of the file.</summary>
    public static void Zero(Layer top, MergedIndex? idx, long offset, long length)
    {
        var tm = top.Map;
        long pos = offset, end = offset + length;
        if ((pos & (BlockSize - 1)) != 0)
        {
            long blockEnd = Math.Min(end, ((pos >> Shift) + 1) << Shift);
            WritePartial(top, tm, idx, pos, Zeros.AsSpan(0, (int)(blockEnd - pos)));
            pos = blockEnd;
        }
        if (pos >= end) return;
        if ((end & (BlockSize - 1)) != 0)
        {
            long tailStart = Math.Max(pos, end & ~(long)(BlockSize - 1));
            WritePartial(top, tm, idx, tailStart, Zeros.AsSpan(0, (int)(end - tailStart)));
            end = tailStart;
        }
        if (pos >= end) return;
        long b = pos >> Shift, bEnd = end >> Shift;
        while (b < bEnd)
        {
            long pageIndex = b >> MapPage.Shift;
            long pageEnd = Math.Min(bEnd, (pageIndex + 1) << MapPage.Shift);
            var basePage = idx?.Page(pageIndex);
            if (basePage is null) tm.Clear(b, pageEnd - b); // nothing below: absent reads as zeros
            else
            {
                // Blocks stored below must be hidden with a zero mark; the others just become absent.
                long runStart = b;
                bool runZero = basePage[b & (MapPage.Blocks - 1)] != 0;
                for (long x = b + 1; x <= pageEnd; x++)
                {
                    bool z = x < pageEnd && basePage[x & (MapPage.Blocks - 1)] != 0;
                    if (x < pageEnd && z == runZero) continue;
                    if (runZero) tm.SetZero(runStart, x - runStart);
                    else tm.Clear(runStart, x - runStart);
                    runStart = x;
                    runZero = z;
                }
            }
            b = pageEnd;
        }
        top.Punch(pos, end - pos);
    }

    public static IReadOnlyList<ByteRange> Allocated(Layer? top, MergedIndex? idx, long offset, long length)
    {
        var result = new List<ByteRange>();
        var tm = top?.Map;
        long end = offset + length;
        long b = offset >> Shift, bEnd = (end + BlockSize - 1) >> Shift;
        long runStart = -1;
        while (b < bEnd)
        {
            long pageIndex = b >> MapPage.Shift;
            if (tm?.Page(pageIndex) is null && idx?.Page(pageIndex) is null)
            {
                if (runStart >= 0) { Add(result, runStart, b, offset, end); runStart = -1; }
                b = (pageIndex + 1) << MapPage.Shift;
                continue;
            }
            bool alloc = Resolve(tm, top, idx, b) is not null;
            if (alloc && runStart < 0) runStart = b;
            else if (!alloc && runStart >= 0) { Add(result, runStart, b, offset, end); runStart = -1; }
            b++;
        }
        if (runStart >= 0) Add(result, runStart, Math.Min(b, bEnd), offset, end);
        return result;
    }

    private static void Add(List<ByteRange> list, long firstBlock, long endBlock, long windowStart, long windowEnd)
    {
        long s = Math.Max(firstBlock << Shift, windowStart), e = Math.Min(endBlock << Shift, windowEnd);
        if (e > s) list.Add(new ByteRange(s, e - s));
    }
}
