using System.Buffers;

namespace Cairn.Iscsi.Scsi;

public sealed partial class ScsiBlockDevice
{
    // Writers vs. atomic read-modify-write commands (COMPARE AND WRITE, ORWRITE, WRITE ATOMIC): a Dekker-style pair
    // of counters, so ordinary writes stay lock-free and only wait while an atomic command runs.
    private readonly Lock _atomicGate = new();
    private int _exclusive;
    private int _activeWriters;

    private void EnterWrite()
    {
        while (true)
        {
            if (Volatile.Read(ref _exclusive) == 0)
            {
                Interlocked.Increment(ref _activeWriters);
                if (Volatile.Read(ref _exclusive) == 0) return;
                Interlocked.Decrement(ref _activeWriters);
            }
            lock (_atomicGate) { } // wait for the atomic command to finish
        }
    }

    private void ExitWrite() => Interlocked.Decrement(ref _activeWriters);

    private void EnterExclusive()
    {
        _atomicGate.Enter();
        Interlocked.Exchange(ref _exclusive, 1);
        var spin = new SpinWait();
        while (Volatile.Read(ref _activeWriters) != 0) spin.SpinOnce();
    }

    private void ExitExclusive()
    {
        Volatile.Write(ref _exclusive, 0);
        _atomicGate.Exit();
    }

    private bool Fua(byte flags) => (flags & 0x08) != 0 || !_wce;

    // SBC-3 §5.8–5.11 READ: RDPROTECT must be 0 (no protection information); DPO/FUA are accepted (no read cache).
    private ScsiResult Read(long lba, long blocks, byte flags, Span<byte> dataIn, int lengthField)
    {
        if ((flags & 0xE0) != 0) return InvalidField(1, 7);
        if (OutOfRange(lba, blocks)) return LbaOutOfRange();
        if (blocks > _options.MaxTransferBlocks) return InvalidField(lengthField);
        long bytes = blocks << BlockShift;
        int fill = (int)Math.Min(bytes, dataIn.Length);
        int whole = fill & ~(BlockSize - 1);
        if (whole > 0) _device.Read(lba << BlockShift, dataIn[..whole]);
        if (fill > whole)
        {
            Span<byte> tail = stackalloc byte[BlockSize];
            _device.Read((lba << BlockShift) + whole, tail);
            tail[..(fill - whole)].CopyTo(dataIn[whole..]);
        }
        return ScsiResult.Good(fill, bytes);
    }

    // SBC-3 §5.32–5.35 WRITE: FUA (or a disabled write cache) makes the data durable before status.
    private ScsiResult Write(long lba, long blocks, byte flags, ReadOnlySpan<byte> dataOut, int lengthField)
    {
        if ((flags & 0xE0) != 0) return InvalidField(1, 7);
        if (OutOfRange(lba, blocks)) return LbaOutOfRange();
        if (blocks > _options.MaxTransferBlocks) return InvalidField(lengthField);
        if (WriteProtected) return WriteProtectedResult();
        long bytes = blocks << BlockShift;
        // Short data-out (EDTL below the CDB): write the whole blocks that arrived; the transport reports the overflow.
        int have = (int)Math.Min(bytes, dataOut.Length) & ~(BlockSize - 1);
        if (have > 0)
        {
            EnterWrite();
            try { _device.Write(lba << BlockShift, dataOut[..have], Fua(flags)); }
            finally { ExitWrite(); }
        }
        return ScsiResult.Good(0, bytes);
    }

    // SBC-3 §5.36–5.38 WRITE AND VERIFY: BYTCHK 0 verifies the medium, 1 compares the written data.
    private ScsiResult WriteAndVerify(long lba, long blocks, byte flags, ReadOnlySpan<byte> dataOut, int lengthField)
    {
        if ((flags & 0xE0) != 0) return InvalidField(1, 7);
        int bytchk = (flags >> 1) & 0x03;
        if (bytchk >= 2) return InvalidField(1, 2);
        if (OutOfRange(lba, blocks)) return LbaOutOfRange();
        if (blocks > _options.MaxTransferBlocks) return InvalidField(lengthField);
        if (WriteProtected) return WriteProtectedResult();
        long bytes = blocks << BlockShift;
        int have = (int)Math.Min(bytes, dataOut.Length) & ~(BlockSize - 1);
        if (have > 0)
        {
            EnterWrite();
            try { _device.Write(lba << BlockShift, dataOut[..have], fua: true); }
            finally { ExitWrite(); }
            if (bytchk == 1)
            {
                long at = CompareMedium(lba, dataOut[..have]);
                if (at >= 0) return Check(SenseKey.Miscompare, Asc.MiscompareDuringVerify, information: at);
            }
        }
        return ScsiResult.Good(0, bytes);
    }

    // SBC-3 §5.29–5.31 VERIFY: BYTCHK 00 medium check, 01 compare all blocks, 11 compare one block against each.
    private ScsiResult Verify(long lba, long blocks, byte flags, ReadOnlySpan<byte> dataOut, int lengthField)
    {
        if ((flags & 0xE0) != 0) return InvalidField(1, 7);
        int bytchk = (flags >> 1) & 0x03;
        if (bytchk == 2) return InvalidField(1, 2);
        if (OutOfRange(lba, blocks)) return LbaOutOfRange();
        if (blocks > _options.MaxTransferBlocks) return InvalidField(lengthField);
        long want = bytchk switch { 1 => blocks << BlockShift, 3 => blocks == 0 ? 0 : BlockSize, _ => 0 };
        if (bytchk != 0 && blocks > 0)
        {
            int have = (int)Math.Min(want, dataOut.Length) & ~(BlockSize - 1);
            if (have > 0)
            {
                long at = bytchk == 3
                    ? CompareMediumRepeated(lba, blocks, dataOut[..BlockSize])
                    : CompareMedium(lba, dataOut[..have]);
                if (at >= 0) return Check(SenseKey.Miscompare, Asc.MiscompareDuringVerify, information: at);
            }
        }
        return ScsiResult.Good(0, want);
    }

    /// <summary>Byte offset of the first difference between the medium at <paramref name="lba"/> and <paramref name="expected"/>, or -1.</summary>
    private long CompareMedium(long lba, ReadOnlySpan<byte> expected)
    {
        const int Chunk = 64 * 1024;
        var buf = ArrayPool<byte>.Shared.Rent(Math.Min(Chunk, expected.Length));
        try
        {
            for (int done = 0; done < expected.Length;)
            {
                int n = Math.Min(Chunk, expected.Length - done);
                var span = buf.AsSpan(0, n);
                _device.Read((lba << BlockShift) + done, span);
                int diff = span.CommonPrefixLength(expected.Slice(done, n));
                if (diff < n) return done + diff;
                done += n;
            }
            return -1;
        }
        finally { ArrayPool<byte>.Shared.Return(buf); }
    }

    private long CompareMediumRepeated(long lba, long blocks, ReadOnlySpan<byte> block)
    {
        Span<byte> buf = stackalloc byte[BlockSize];
        for (long i = 0; i < blocks; i++)
        {
            _device.Read((lba + i) << BlockShift, buf);
            int diff = buf.CommonPrefixLength(block);
            if (diff < BlockSize) return (i << BlockShift) + diff;
        }
        return -1;
    }

    // SBC-3 §5.9/5.10 PRE-FETCH: nothing to stage (no separate read cache); GOOD once the range is valid.
    private ScsiResult PreFetch(long lba, long blocks)
    {
        if (OutOfRange(lba, blocks)) return LbaOutOfRange();
        return ScsiResult.Good(0, 0);
    }

    // SBC-3 §5.22/5.23 SYNCHRONIZE CACHE: every acknowledged write becomes durable (0 blocks: to the end).
    private ScsiResult SynchronizeCache(long lba, long blocks)
    {
        if (OutOfRange(lba, blocks)) return LbaOutOfRange();
        _device.Flush();
        return ScsiResult.Good(0, 0);
    }

    /// <summary>MAXIMUM COMPARE AND WRITE LENGTH (VPD 0xB0) in logical blocks.</summary>
    private const int MaxCompareAndWriteBlocks = 128;

    // SBC-3 §5.2 COMPARE AND WRITE: compare and write are one atomic operation against every other writer.
    private ScsiResult CompareAndWrite(ReadOnlySpan<byte> cdb, ReadOnlySpan<byte> dataOut, uint edtl)
    {
        byte flags = cdb[1];
        if ((flags & 0xE0) != 0) return InvalidField(1, 7);
        long lba = Be64(cdb, 2);
        int blocks = cdb[13];
        if (blocks > MaxCompareAndWriteBlocks) return InvalidField(13);
        if (OutOfRange(lba, blocks)) return LbaOutOfRange();
        int half = blocks << BlockShift;
        if (WriteProtected && blocks > 0) return WriteProtectedResult();
        // The data-out buffer must hold exactly the verify and the write instances (SBC-3 §5.2).
        if (edtl != 2u * (uint)half) return InvalidField(13);
        if (blocks == 0) return ScsiResult.Good(0, 0);
        if (dataOut.Length != 2 * half) return InvalidField(13);

        var buf = ArrayPool<byte>.Shared.Rent(half);
        EnterExclusive();
        try
        {
            var current = buf.AsSpan(0, half);
            _device.Read(lba << BlockShift, current);
            int same = current.CommonPrefixLength(dataOut[..half]);
            if (same < half)
                return Check(SenseKey.Miscompare, Asc.MiscompareDuringVerify, information: same);
            _device.Write(lba << BlockShift, dataOut.Slice(half, half), Fua(flags));
            return ScsiResult.Good(0, 2L * half);
        }
        finally
        {
            ExitExclusive();
            ArrayPool<byte>.Shared.Return(buf);
        }
    }

    // SBC-3 §5.8 ORWRITE (16), single-command form: medium |= data-out, atomically.
    private ScsiResult OrWrite(long lba, long blocks, byte flags, ReadOnlySpan<byte> dataOut, int lengthField)
    {
        if ((flags & 0xE0) != 0) return InvalidField(1, 7);
        if (OutOfRange(lba, blocks)) return LbaOutOfRange();
        if (blocks > _options.MaxTransferBlocks) return InvalidField(lengthField);
        if (WriteProtected) return WriteProtectedResult();
        long bytes = blocks << BlockShift;
        int have = (int)Math.Min(bytes, dataOut.Length) & ~(BlockSize - 1);
        if (have == 0) return ScsiResult.Good(0, bytes);
        var buf = ArrayPool<byte>.Shared.Rent(have);
        EnterExclusive();
        try
        {
            var cur = buf.AsSpan(0, have);
            _device.Read(lba << BlockShift, cur);
            for (int i = 0; i < have; i++) cur[i] |= dataOut[i];
            _device.Write(lba << BlockShift, cur, Fua(flags));
            return ScsiResult.Good(0, bytes);
        }
        finally
        {
            ExitExclusive();
            ArrayPool<byte>.Shared.Return(buf);
        }
    }

    /// <summary>MAXIMUM ATOMIC TRANSFER LENGTH (VPD 0xB0) in logical blocks.</summary>
    private const int MaxAtomicBlocks = 256;

    private int AtomicAlignment => 1 << _physExponent;

    // SBC-4 §5.48 WRITE ATOMIC (16): all or none of the blocks, excluded from concurrent writers. ATOMIC BOUNDARY is
    // not supported (MAXIMUM ATOMIC BOUNDARY SIZE 0).
    private ScsiResult WriteAtomic(ReadOnlySpan<byte> cdb, ReadOnlySpan<byte> dataOut)
    {
        byte flags = cdb[1];
        if ((flags & 0xE0) != 0) return InvalidField(1, 7);
        long lba = Be64(cdb, 2);
        if (Be16(cdb, 10) != 0) return InvalidField(10);
        int blocks = Be16(cdb, 12);
        if (OutOfRange(lba, blocks)) return LbaOutOfRange();
        if (blocks > MaxAtomicBlocks) return InvalidField(12);
        int align = AtomicAlignment;
        if (lba % align != 0) return InvalidField(2);
        if (blocks % align != 0) return InvalidField(12);
        if (WriteProtected) return WriteProtectedResult();
        long bytes = (long)blocks << BlockShift;
        if (blocks == 0) return ScsiResult.Good(0, 0);
        if (dataOut.Length < bytes) return Check(SenseKey.IllegalRequest, Asc.ParameterListLengthError);
        EnterExclusive();
        try { _device.Write(lba << BlockShift, dataOut[..(int)bytes], Fua(flags)); }
        finally { ExitExclusive(); }
        return ScsiResult.Good(0, bytes);
    }
}
