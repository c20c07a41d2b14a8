namespace Cairn.Iscsi.Scsi;

/// <summary>Operation codes this logical unit implements (SPC-4 §D.3.1, SBC-3 §5).</summary>
public static class ScsiOp
{
    public const byte TestUnitReady = 0x00;
    public const byte RequestSense = 0x03;
    public const byte Read6 = 0x08;
    public const byte Write6 = 0x0A;
    public const byte Inquiry = 0x12;
    public const byte ModeSelect6 = 0x15;
    public const byte Reserve6 = 0x16;
    public const byte Release6 = 0x17;
    public const byte ModeSense6 = 0x1A;
    public const byte StartStopUnit = 0x1B;
    public const byte PreventAllowMediumRemoval = 0x1E;
    public const byte ReadCapacity10 = 0x25;
    public const byte Read10 = 0x28;
    public const byte Write10 = 0x2A;
    public const byte WriteAndVerify10 = 0x2E;
    public const byte Verify10 = 0x2F;
    public const byte PreFetch10 = 0x34;
    public const byte SynchronizeCache10 = 0x35;
    public const byte ReadDefectData10 = 0x37;
    public const byte WriteSame10 = 0x41;
    public const byte Unmap = 0x42;
    public const byte Sanitize = 0x48;
    public const byte ModeSelect10 = 0x55;
    public const byte Reserve10 = 0x56;
    public const byte Release10 = 0x57;
    public const byte ModeSense10 = 0x5A;
    public const byte PersistentReserveIn = 0x5E;
    public const byte PersistentReserveOut = 0x5F;
    public const byte ExtendedCopy = 0x83;
    public const byte ReceiveCopyResults = 0x84;
    public const byte Read16 = 0x88;
    public const byte CompareAndWrite = 0x89;
    public const byte Write16 = 0x8A;
    public const byte OrWrite16 = 0x8B;
    public const byte WriteAndVerify16 = 0x8E;
    public const byte Verify16 = 0x8F;
    public const byte PreFetch16 = 0x90;
    public const byte SynchronizeCache16 = 0x91;
    public const byte WriteSame16 = 0x93;
    public const byte WriteAtomic16 = 0x9C;
    public const byte ServiceActionIn16 = 0x9E;
    public const byte ReportLuns = 0xA0;
    public const byte MaintenanceIn = 0xA3;
    public const byte Read12 = 0xA8;
    public const byte Write12 = 0xAA;
    public const byte WriteAndVerify12 = 0xAE;
    public const byte Verify12 = 0xAF;
    public const byte ReadDefectData12 = 0xB7;

    public const byte SaReadCapacity16 = 0x10;
    public const byte SaGetLbaStatus = 0x12;
    public const byte SaReportSupportedOpcodes = 0x0C;
    public const byte SaReportSupportedTmf = 0x0D;
}

/// <summary>
/// One supported command: its CDB length and the CDB USAGE DATA bitmap of SPC-4 §6.35.3 (a 1 bit may be set in the
/// CDB). The same bitmap rejects set reserved bits with INVALID FIELD IN CDB, so what REPORT SUPPORTED OPERATION
/// CODES says and what the device accepts cannot drift apart.
/// </summary>
internal sealed class OpInfo(byte opcode, int serviceAction, byte[] usage, uint nominalTimeoutSeconds = 0)
{
    public byte Opcode { get; } = opcode;
    /// <summary>Service action, or -1 when the command has none.</summary>
    public int ServiceAction { get; } = serviceAction;
    public byte[] Usage { get; } = usage;
    public int CdbLength => Usage.Length;
    public uint NominalTimeout { get; } = nominalTimeoutSeconds;

    /// <summary>Byte index (≥1) and bit of the first set bit the usage map forbids, or (-1,-1).</summary>
    public (int Byte, int Bit) FirstReservedBit(ReadOnlySpan<byte> cdb)
    {
        var u = Usage;
        int last = u.Length - 1;
        for (int i = 1; i < last; i++)
        {
            int bad = cdb[i] & ~u[i];
            if (bad != 0) return (i, 31 - int.LeadingZeroCount(bad));
        }
        // SAM-5 §5.2 control byte: NACA is not supported.
        if ((cdb[last] & 0x04) != 0) return (last, 2);
        return (-1, -1);
    }
}

internal static class OpTable
{
    private static OpInfo Op(byte opcode, params byte[] rest) => new(opcode, -1, [opcode, .. rest]);
    private static OpInfo Sa(byte opcode, byte sa, params byte[] rest) => new(opcode, sa, [opcode, .. rest]);

    // The last byte of each map is the CONTROL byte (0x00: NACA and LINK unsupported).
    public static readonly OpInfo[] All =
    [
        Op(ScsiOp.TestUnitReady, 0, 0, 0, 0, 0),
        Op(ScsiOp.RequestSense, 0x01, 0, 0, 0xFF, 0),
        Op(ScsiOp.Read6, 0x1F, 0xFF, 0xFF, 0xFF, 0),
        Op(ScsiOp.Write6, 0x1F, 0xFF, 0xFF, 0xFF, 0),
        Op(ScsiOp.Inquiry, 0x01, 0xFF, 0xFF, 0xFF, 0),
        Op(ScsiOp.ModeSelect6, 0x11, 0, 0, 0xFF, 0),
        Op(ScsiOp.Reserve6, 0, 0, 0, 0, 0),
        Op(ScsiOp.Release6, 0, 0, 0, 0, 0),
        Op(ScsiOp.ModeSense6, 0x08, 0xFF, 0xFF, 0xFF, 0),
        Op(ScsiOp.StartStopUnit, 0x01, 0, 0x0F, 0xF7, 0),
        Op(ScsiOp.PreventAllowMediumRemoval, 0, 0, 0, 0x03, 0),
        Op(ScsiOp.ReadCapacity10, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0x01, 0),
        Op(ScsiOp.Read10, 0xFE, 0xFF, 0xFF, 0xFF, 0xFF, 0x1F, 0xFF, 0xFF, 0),
        Op(ScsiOp.Write10, 0xFA, 0xFF, 0xFF, 0xFF, 0xFF, 0x1F, 0xFF, 0xFF, 0),
        Op(ScsiOp.WriteAndVerify10, 0xF6, 0xFF, 0xFF, 0xFF, 0xFF, 0x1F, 0xFF, 0xFF, 0),
        Op(ScsiOp.Verify10, 0xF6, 0xFF, 0xFF, 0xFF, 0xFF, 0x1F, 0xFF, 0xFF, 0),
        Op(ScsiOp.PreFetch10, 0x02, 0xFF, 0xFF, 0xFF, 0xFF, 0x1F, 0xFF, 0xFF, 0),
        Op(ScsiOp.SynchronizeCache10, 0x06, 0xFF, 0xFF, 0xFF, 0xFF, 0x1F, 0xFF, 0xFF, 0),
        Op(ScsiOp.ReadDefectData10, 0, 0x1F, 0, 0, 0, 0, 0xFF, 0xFF, 0),
        Op(ScsiOp.WriteSame10, 0xF8, 0xFF, 0xFF, 0xFF, 0xFF, 0x1F, 0xFF, 0xFF, 0),
        Op(ScsiOp.Unmap, 0x01, 0, 0, 0, 0, 0x1F, 0xFF, 0xFF, 0),
        Sa(ScsiOp.Sanitize, 0x02, 0x80 | 0x20 | 0x02, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0),
        Sa(ScsiOp.Sanitize, 0x1F, 0x80 | 0x20 | 0x1F, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0),
        Op(ScsiOp.ModeSelect10, 0x11, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0),
        Op(ScsiOp.Reserve10, 0, 0, 0, 0, 0, 0, 0, 0, 0),
        Op(ScsiOp.Release10, 0, 0, 0, 0, 0, 0, 0, 0, 0),
        Op(ScsiOp.ModeSense10, 0x18, 0xFF, 0xFF, 0, 0, 0, 0xFF, 0xFF, 0),
        Sa(ScsiOp.PersistentReserveIn, 0x00, 0x00, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0),
        Sa(ScsiOp.PersistentReserveIn, 0x01, 0x01, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0),
        Sa(ScsiOp.PersistentReserveIn, 0x02, 0x02, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0),
        Sa(ScsiOp.PersistentReserveIn, 0x03, 0x03, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0),
        Sa(ScsiOp.PersistentReserveOut, 0x00, 0x00, 0xFF, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0),
        Sa(ScsiOp.PersistentReserveOut, 0x01, 0x01, 0xFF, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0),
        Sa(ScsiOp.PersistentReserveOut, 0x02, 0x02, 0xFF, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0),
        Sa(ScsiOp.PersistentReserveOut, 0x03, 0x03, 0xFF, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0),
        Sa(ScsiOp.PersistentReserveOut, 0x04, 0x04, 0xFF, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0),
        Sa(ScsiOp.PersistentReserveOut, 0x05, 0x05, 0xFF, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0),
        Sa(ScsiOp.PersistentReserveOut, 0x06, 0x06, 0xFF, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0),
        Sa(ScsiOp.ExtendedCopy, 0x00, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0),
        Sa(ScsiOp.ReceiveCopyResults, 0x00, 0x00, 0xFF, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0),
        Sa(ScsiOp.ReceiveCopyResults, 0x03, 0x03, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0),
        Op(ScsiOp.Read16, 0xFE, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x1F, 0),
        Op(ScsiOp.CompareAndWrite, 0xFA, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0xFF, 0x1F, 0),
        Op(ScsiOp.Write16, 0xFA, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x1F, 0),
        Op(ScsiOp.OrWrite16, 0xFA, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x1F, 0),
        Op(ScsiOp.WriteAndVerify16, 0xF6, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x1F, 0),
        Op(ScsiOp.Verify16, 0xF6, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x1F, 0),
        Op(ScsiOp.PreFetch16, 0x02, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x1F, 0),
        Op(ScsiOp.SynchronizeCache16, 0x06, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x1F, 0),
        Op(ScsiOp.WriteSame16, 0xF9, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x1F, 0),
        Op(ScsiOp.WriteAtomic16, 0xF8, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x1F, 0),
        Sa(ScsiOp.ServiceActionIn16, ScsiOp.SaReadCapacity16, ScsiOp.SaReadCapacity16, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01, 0),
        Sa(ScsiOp.ServiceActionIn16, ScsiOp.SaGetLbaStatus, ScsiOp.SaGetLbaStatus, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0),
        Op(ScsiOp.ReportLuns, 0, 0xFF, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0),
        Sa(ScsiOp.MaintenanceIn, ScsiOp.SaReportSupportedOpcodes, ScsiOp.SaReportSupportedOpcodes, 0x87, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0),
        Sa(ScsiOp.MaintenanceIn, ScsiOp.SaReportSupportedTmf, ScsiOp.SaReportSupportedTmf, 0x80, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0),
        Op(ScsiOp.Read12, 0xFE, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x1F, 0),
        Op(ScsiOp.Write12, 0xFA, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x1F, 0),
        Op(ScsiOp.WriteAndVerify12, 0xF6, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x1F, 0),
        Op(ScsiOp.Verify12, 0xF6, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x1F, 0),
        Op(ScsiOp.ReadDefectData12, 0x1F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0),
    ];

    private static readonly OpInfo?[] s_plain = BuildPlain();

    private static OpInfo?[] BuildPlain()
    {
        var t = new OpInfo?[256];
        foreach (var o in All) if (o.ServiceAction < 0) t[o.Opcode] = o;
        return t;
    }

    /// <summary>True when commands with this opcode carry a service action in byte 1 (bits 4–0).</summary>
    public static bool HasServiceAction(byte opcode) =>
        opcode is ScsiOp.Sanitize or ScsiOp.ExtendedCopy or ScsiOp.ReceiveCopyResults or ScsiOp.PersistentReserveIn or ScsiOp.PersistentReserveOut or ScsiOp.ServiceActionIn16 or ScsiOp.MaintenanceIn;

    public static bool Known(byte opcode) => s_plain[opcode] is not null || HasServiceAction(opcode);

    /// <summary>The command for a CDB, or null (unknown opcode or service action).</summary>
    public static OpInfo? Find(byte opcode, int serviceAction)
    {
        if (!HasServiceAction(opcode)) return s_plain[opcode];
        foreach (var o in All)
            if (o.Opcode == opcode && o.ServiceAction == serviceAction) return o;
        return null;
    }
}
