using System.Buffers.Binary;
using Cairn.Iscsi.Scsi;

namespace Cairn.Iscsi.Tests.Target;

/// <summary>
/// Throw-away RAM-backed direct-access LU for transport tests: just enough SCSI (TUR, INQUIRY, READ CAPACITY,
/// READ/WRITE 10/16, REPORT LUNS, MODE SENSE 6) to let libiscsi's tools and our raw initiator run.
/// </summary>
internal sealed class TestLogicalUnit(int blocks = 2048, int lun = 0) : IScsiLogicalUnit
{
    public const int BlockSize = 512;
    private readonly byte[] _data = new byte[blocks * BlockSize];
    public int Resets;
    public int NexusLosses;

    public byte[] Data => _data;

    /// <summary>Called at every command, on the connection's thread (tests peek at session state from here).</summary>
    public Action? OnExecute { get; set; }

    public long DataOutLength(ReadOnlySpan<byte> cdb) => cdb[0] switch
    {
        0x2A => (long)BinaryPrimitives.ReadUInt16BigEndian(cdb[7..]) * BlockSize,
        0x8A => (long)BinaryPrimitives.ReadUInt32BigEndian(cdb[10..]) * BlockSize,
        _ => 0,
    };

    public ScsiResult Execute(ReadOnlySpan<byte> cdb, ReadOnlySpan<byte> dataOut, Span<byte> dataIn, in ScsiCommandInfo info)
    {
        OnExecute?.Invoke();
        switch (cdb[0])
        {
            case 0x00: return ScsiResult.Good(0, 0);
            case 0x12: return Inquiry(cdb, dataIn);
            case 0x25:
            {
                Span<byte> b = stackalloc byte[8];
                BinaryPrimitives.WriteUInt32BigEndian(b, (uint)blocks - 1);
                BinaryPrimitives.WriteUInt32BigEndian(b[4..], BlockSize);
                return Copy(b, dataIn, 8);
            }
            case 0x9E when (cdb[1] & 0x1F) == 0x10:
            {
                Span<byte> b = stackalloc byte[32];
                b.Clear();
                BinaryPrimitives.WriteUInt64BigEndian(b, (ulong)blocks - 1);
                BinaryPrimitives.WriteUInt32BigEndian(b[8..], BlockSize);
                return Copy(b, dataIn, (int)BinaryPrimitives.ReadUInt32BigEndian(cdb[10..]));
            }
            case 0x28: return Read(BinaryPrimitives.ReadUInt32BigEndian(cdb[2..]), BinaryPrimitives.ReadUInt16BigEndian(cdb[7..]), dataIn);
            case 0x88: return Read((long)BinaryPrimitives.ReadUInt64BigEndian(cdb[2..]), BinaryPrimitives.ReadUInt32BigEndian(cdb[10..]), dataIn);
            case 0x2A: return Write(BinaryPrimitives.ReadUInt32BigEndian(cdb[2..]), BinaryPrimitives.ReadUInt16BigEndian(cdb[7..]), dataOut);
            case 0x8A: return Write((long)BinaryPrimitives.ReadUInt64BigEndian(cdb[2..]), BinaryPrimitives.ReadUInt32BigEndian(cdb[10..]), dataOut);
            case 0xA0:
            {
                Span<byte> b = stackalloc byte[16];
                b.Clear();
                b[3] = 8;
                b[9] = (byte)lun;
                return Copy(b, dataIn, (int)BinaryPrimitives.ReadUInt32BigEndian(cdb[6..]));
            }
            case 0x1A:
            {
                Span<byte> b = [3, 0, 0, 0];
                return Copy(b, dataIn, cdb[4]);
            }
            default: return Check(0x05, 0x20);
        }
    }

    private static ScsiResult Inquiry(ReadOnlySpan<byte> cdb, Span<byte> dataIn)
    {
        int alloc = BinaryPrimitives.ReadUInt16BigEndian(cdb[3..]);
        Span<byte> b = stackalloc byte[36];
        b.Clear();
        if ((cdb[1] & 1) != 0)
        {
            if (cdb[2] == 0x00) { b[3] = 2; b[4] = 0x00; b[5] = 0x80; return Copy(b[..6], dataIn, alloc); }
            if (cdb[2] == 0x80) { b[1] = 0x80; b[3] = 4; "0001"u8.CopyTo(b[4..]); return Copy(b[..8], dataIn, alloc); }
            return Check(0x05, 0x24);
        }
        b[2] = 6; b[3] = 2; b[4] = 31;
        "CAIRN   TEST LU         0001"u8.CopyTo(b[8..]);
        return Copy(b, dataIn, alloc);
    }

    private ScsiResult Read(long lba, long count, Span<byte> dataIn)
    {
        if (lba + count > blocks) return Check(0x05, 0x21);
        long bytes = count * BlockSize;
        int n = (int)Math.Min(bytes, dataIn.Length);
        _data.AsSpan((int)(lba * BlockSize), n).CopyTo(dataIn);
        return ScsiResult.Good(n, bytes);
    }

    private ScsiResult Write(long lba, long count, ReadOnlySpan<byte> dataOut)
    {
        if (lba + count > blocks) return Check(0x05, 0x21);
        int whole = dataOut.Length / BlockSize * BlockSize;
        dataOut[..whole].CopyTo(_data.AsSpan((int)(lba * BlockSize)));
        return ScsiResult.Good(0, count * BlockSize);
    }

    private static ScsiResult Copy(ReadOnlySpan<byte> src, Span<byte> dataIn, int alloc)
    {
        int produce = Math.Min(src.Length, alloc);
        int n = Math.Min(produce, dataIn.Length);
        src[..n].CopyTo(dataIn);
        return ScsiResult.Good(n, produce);
    }

    private static ScsiResult Check(byte key, byte asc)
    {
        var s = new byte[18];
        s[0] = 0x70; s[2] = key; s[7] = 10; s[12] = asc;
        return new ScsiResult(ScsiStatus.CheckCondition, 0, 0, s);
    }

    public void Reset(in ScsiNexus nexus, bool targetReset) => Interlocked.Increment(ref Resets);

    public void NexusLost(in ScsiNexus nexus) => Interlocked.Increment(ref NexusLosses);

    public void Dispose() { }
}
