using Cairn.Iscsi.Scsi;

namespace Cairn.Iscsi.Target;

/// <summary>
/// Answers for a LUN the target does not map (SPC-4 §4.6.3 / SAM-5 §5.9.5): REPORT LUNS goes to any mapped unit,
/// INQUIRY says "no device here" (peripheral qualifier 011b), everything else gets LOGICAL UNIT NOT SUPPORTED.
/// </summary>
internal static class MissingLun
{
    private const byte ReportLuns = 0xA0, Inquiry = 0x12, RequestSense = 0x03;

    public static ScsiResult Execute(IscsiTarget target, ReadOnlySpan<byte> cdb, ReadOnlySpan<byte> dataOut, Span<byte> dataIn, in ScsiCommandInfo info)
    {
        if (cdb[0] == ReportLuns && target.Luns.Count > 0)
        {
            var first = target.Luns.MinBy(kv => kv.Key).Value;
            return first.Execute(cdb, dataOut, dataIn, info);
        }
        if (cdb[0] == Inquiry && (cdb[1] & 1) == 0)
        {
            int alloc = (cdb[3] << 8) | cdb[4];
            Span<byte> inq = stackalloc byte[36];
            inq.Clear();
            inq[0] = 0x7F; // PQ 011b, PDT 1Fh
            inq[2] = 0x06; // SPC-4
            inq[3] = 0x02;
            inq[4] = 31;
            "CAIRN   "u8.CopyTo(inq[8..]);
            int n = Math.Min(Math.Min(alloc, 36), dataIn.Length);
            inq[..n].CopyTo(dataIn);
            return ScsiResult.Good(n, Math.Min(alloc, 36));
        }
        if (cdb[0] == RequestSense)
        {
            // SPC-4 §6.39: a missing LUN reports LOGICAL UNIT NOT SUPPORTED as parameter data.
            var sense = Sense(0x05, 0x25, 0x00).Span;
            int n = Math.Min(Math.Min(cdb[4], sense.Length), dataIn.Length);
            sense[..n].CopyTo(dataIn);
            return ScsiResult.Good(n, Math.Min(cdb[4], sense.Length));
        }
        return new ScsiResult(ScsiStatus.CheckCondition, 0, 0, Sense(0x05, 0x25, 0x00));
    }

    /// <summary>Fixed-format sense data (SPC-4 §4.5.3).</summary>
    public static ReadOnlyMemory<byte> Sense(byte key, byte asc, byte ascq)
    {
        var s = new byte[18];
        s[0] = 0x70;
        s[2] = key;
        s[7] = 10;
        s[12] = asc;
        s[13] = ascq;
        return s;
    }
}
