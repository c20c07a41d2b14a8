using System.Buffers.Binary;
using System.Text;

namespace Cairn.Iscsi.Scsi;

public sealed partial class ScsiBlockDevice
{
    // Ascending (SPC-4 §7.8.13); every page listed here is served by Inquiry below and nothing else is. 0x8F backs the
    // 3PC bit of standard INQUIRY data: a copy manager that supports EXTENDED COPY shall serve it (SPC-4 §7.8.17).
    private static readonly byte[] s_supportedVpd = [0x00, 0x80, 0x83, 0x8F, 0xB0, 0xB1, 0xB2];

    // SPC-4 §6.6 INQUIRY
    private ScsiResult Inquiry(ReadOnlySpan<byte> cdb, Span<byte> dataIn, in ScsiNexus nexus)
    {
        bool evpd = (cdb[1] & 0x01) != 0;
        byte page = cdb[2];
        int alloc = Be16(cdb, 3);
        if (!evpd)
        {
            if (page != 0) return InvalidField(2);
            return DataIn(StandardInquiry(), dataIn, alloc);
        }
        byte[]? data = page switch
        {
            0x00 => Vpd(0x00, s_supportedVpd),
            0x80 => Vpd(0x80, Encoding.ASCII.GetBytes(Serial)),
            0x83 => Vpd(0x83, DeviceIdentification(nexus)),
            0x8F => Vpd(0x8F, ThirdPartyCopy()),
            0xB0 => Vpd(0xB0, BlockLimits()),
            0xB1 => Vpd(0xB1, BlockDeviceCharacteristics()),
            0xB2 => Vpd(0xB2, LogicalBlockProvisioning()),
            _ => null,
        };
        return data is null ? InvalidField(2) : DataIn(data, dataIn, alloc);
    }

    private string Serial => _options.SerialNumber ?? _device.Id.ToString("N");

    private static byte[] Vpd(byte page, ReadOnlySpan<byte> body)
    {
        var b = new byte[4 + body.Length];
        b[1] = page;
        BinaryPrimitives.WriteUInt16BigEndian(b.AsSpan(2), (ushort)body.Length);
        body.CopyTo(b.AsSpan(4));
        return b;
    }

    private byte[] StandardInquiry()
    {
        var b = new byte[74];
        b[0] = 0x00; // qualifier 0, direct-access block device
        b[1] = (byte)(_options.Removable ? 0x80 : 0);
        b[2] = 0x06; // SPC-4
        b[3] = 0x12; // HISUP, response data format 2
        b[4] = (byte)(b.Length - 5);
        b[5] = 0x08; // 3PC: EXTENDED COPY
        b[6] = 0x00;
        b[7] = 0x02; // CMDQUE
        Ascii(b.AsSpan(8, 8), _options.VendorId);
        Ascii(b.AsSpan(16, 16), _options.ProductId);
        Ascii(b.AsSpan(32, 4), _options.Revision);
        // SPC-4 §6.6.2 version descriptors: SAM-5, iSCSI, SPC-4, SBC-3.
        ushort[] versions = [0x00A0, 0x0960, 0x0460, 0x04C0];
        for (int i = 0; i < versions.Length; i++) BinaryPrimitives.WriteUInt16BigEndian(b.AsSpan(58 + 2 * i), versions[i]);
        return b;
    }

    private static void Ascii(Span<byte> field, string text)
    {
        field.Fill((byte)' ');
        for (int i = 0; i < field.Length && i < text.Length; i++)
            field[i] = text[i] is >= ' ' and <= '~' ? (byte)text[i] : (byte)'_';
    }

    // SPC-4 §7.8.6 Device Identification VPD page
    private byte[] DeviceIdentification(in ScsiNexus nexus)
    {
        var ms = new List<byte>(128);
        Span<byte> id = stackalloc byte[16];
        _device.Id.TryWriteBytes(id, bigEndian: true, out _);

        // NAA locally assigned (3h): 60 bits of the device id; logical unit association.
        Span<byte> naa = stackalloc byte[8];
        id[..8].CopyTo(naa);
        naa[0] = (byte)(0x30 | (naa[0] & 0x0F));
        Designator(ms, codeSet: 1, piv: false, association: 0, type: 3, naa);

        // EUI-64 based 16-byte designator: the whole device id.
        Designator(ms, codeSet: 1, piv: false, association: 0, type: 2, id);

        // T10 vendor id based: vendor + device id.
        var t10 = new byte[8 + 32];
        Ascii(t10.AsSpan(0, 8), _options.VendorId);
        Encoding.ASCII.GetBytes(_device.Id.ToString("N"), t10.AsSpan(8));
        Designator(ms, codeSet: 2, piv: false, association: 0, type: 1, t10);

        // Relative target port and target port group (association: target port, iSCSI protocol identifier).
        Span<byte> rtp = stackalloc byte[4];
        BinaryPrimitives.WriteUInt16BigEndian(rtp[2..], nexus.TargetPortalGroupTag != 0 ? nexus.TargetPortalGroupTag : _options.RelativeTargetPort);
        Designator(ms, codeSet: 1, piv: true, association: 1, type: 4, rtp);
        Span<byte> tpg = stackalloc byte[4];
        BinaryPrimitives.WriteUInt16BigEndian(tpg[2..], nexus.TargetPortalGroupTag);
        Designator(ms, codeSet: 1, piv: true, association: 1, type: 5, tpg);

        // SCSI name string of the target device (iSCSI name), UTF-8, NUL-terminated, padded to a multiple of 4.
        if (!string.IsNullOrEmpty(nexus.TargetName))
        {
            int n = Encoding.UTF8.GetByteCount(nexus.TargetName) + 1;
            n = Math.Min((n + 3) & ~3, 252);
            var name = new byte[n];
            Encoding.UTF8.GetBytes(nexus.TargetName.AsSpan(), name.AsSpan(0, n - 1));
            Designator(ms, codeSet: 3, piv: true, association: 2, type: 8, name);
        }
        return [.. ms];
    }

    private static void Designator(List<byte> into, byte codeSet, bool piv, byte association, byte type, ReadOnlySpan<byte> value)
    {
        const byte Iscsi = 0x5;
        into.Add((byte)((piv ? Iscsi << 4 : 0) | codeSet));
        into.Add((byte)((piv ? 0x80 : 0) | (association << 4) | type));
        into.Add(0);
        into.Add((byte)value.Length);
        foreach (var v in value) into.Add(v);
    }

    private uint GranularityBlocks => (uint)Math.Max(1, _device.Granularity / BlockSize);

    // SBC-3 §6.5.3 Block Limits VPD page (page length 3Ch)
    private byte[] BlockLimits()
    {
        var b = new byte[0x3C];
        var o = _options;
        b[0] = 0x00; // WSNZ 0: WRITE SAME with 0 blocks runs to the last LBA
        b[1] = MaxCompareAndWriteBlocks;
        BinaryPrimitives.WriteUInt16BigEndian(b.AsSpan(2), (ushort)Math.Min(GranularityBlocks, ushort.MaxValue)); // OPTIMAL TRANSFER LENGTH GRANULARITY
        BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(4), o.MaxTransferBlocks);
        BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(8), Math.Min(o.MaxTransferBlocks, 2048u));
        BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(12), o.MaxTransferBlocks);
        BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(16), o.MaxUnmapBlocks);
        BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(20), o.MaxUnmapDescriptors);
        BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(24), GranularityBlocks);
        BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(28), 0x8000_0000u); // UGAVALID, alignment 0
        BinaryPrimitives.WriteUInt64BigEndian(b.AsSpan(32), o.MaxWriteSameBlocks);
        BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(40), MaxAtomicBlocks);
        BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(44), AtomicAlignment > 1 ? (uint)AtomicAlignment : 0);
        BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(48), AtomicAlignment > 1 ? (uint)AtomicAlignment : 0);
        return b;
    }

    // SBC-3 §6.5.2 Block Device Characteristics VPD page
    private static byte[] BlockDeviceCharacteristics()
    {
        var b = new byte[0x3C];
        b[1] = 0x01; // MEDIUM ROTATION RATE 1: non-rotating medium
        b[3] = 0x40; // WABEREQ 01b: reads after SANITIZE BLOCK ERASE succeed (they return zeros)
        return b;
    }

    // SBC-3 §6.5.4 Logical Block Provisioning VPD page
    private static byte[] LogicalBlockProvisioning()
    {
        var b = new byte[4];
        b[0] = 0; // threshold exponent
        b[1] = 0x80 | 0x40 | 0x20 | 0x04; // LBPU, LBPWS, LBPWS10, LBPRZ; ANC_SUP 0, DP 0
        b[2] = 0x02; // provisioning type: thin
        return b;
    }

    // SBC-3 §5.15 READ CAPACITY (10)
    private ScsiResult ReadCapacity10(ReadOnlySpan<byte> cdb, Span<byte> dataIn)
    {
        if ((cdb[8] & 0x01) == 0 && Be32(cdb, 2) != 0) return InvalidField(2);
        Span<byte> b = stackalloc byte[8];
        long last = Blocks - 1;
        BinaryPrimitives.WriteUInt32BigEndian(b, last > uint.MaxValue ? uint.MaxValue : (uint)last);
        BinaryPrimitives.WriteUInt32BigEndian(b[4..], BlockSize);
        return DataIn(b, dataIn, 8);
    }

    // SBC-3 §5.16 READ CAPACITY (16): LBPME (thin) and LBPRZ (unmapped blocks read as zeros).
    private ScsiResult ReadCapacity16(ReadOnlySpan<byte> cdb, Span<byte> dataIn)
    {
        uint alloc = Be32(cdb, 10);
        Span<byte> b = stackalloc byte[32];
        BinaryPrimitives.WriteInt64BigEndian(b, Blocks - 1);
        BinaryPrimitives.WriteUInt32BigEndian(b[8..], BlockSize);
        b[13] = _physExponent;
        b[14] = 0x80 | 0x40;
        return DataIn(b, dataIn, alloc);
    }

    // SPC-4 §6.33 REPORT LUNS
    private ScsiResult ReportLuns(ReadOnlySpan<byte> cdb, Span<byte> dataIn, NexusState nx)
    {
        nx.Clear(Asc.ReportedLunsDataChanged);
        byte select = cdb[2];
        if (select > 2) return InvalidField(2);
        uint alloc = Be32(cdb, 6);
        if (alloc < 16) return InvalidField(6);
        var luns = _options.ReportLuns?.Invoke() ?? [_options.Lun];
        return DataIn(ReportLunsData(luns), dataIn, alloc);
    }

    /// <summary>REPORT LUNS parameter data (SPC-4 §6.33, SAM-5 §4.7 single-level LUNs) for <paramref name="luns"/>.</summary>
    public static byte[] ReportLunsData(IReadOnlyList<ulong> luns)
    {
        ArgumentNullException.ThrowIfNull(luns);
        var b = new byte[8 + 8 * luns.Count];
        BinaryPrimitives.WriteUInt32BigEndian(b, (uint)(8 * luns.Count));
        for (int i = 0; i < luns.Count; i++)
        {
            ulong lun = luns[i];
            var e = b.AsSpan(8 + 8 * i);
            if (lun < 256) e[1] = (byte)lun; // peripheral device addressing
            else { e[0] = (byte)(0x40 | ((lun >> 8) & 0x3F)); e[1] = (byte)lun; } // flat space addressing
        }
        return b;
    }

    // SPC-4 §6.35 REPORT SUPPORTED OPERATION CODES
    private ScsiResult ReportSupportedOpcodes(ReadOnlySpan<byte> cdb, Span<byte> dataIn)
    {
        bool rctd = (cdb[2] & 0x80) != 0;
        int options = cdb[2] & 0x07;
        byte reqOp = cdb[3];
        int reqSa = Be16(cdb, 4);
        uint alloc = Be32(cdb, 6);
        int timeoutLen = rctd ? 12 : 0;

        if (options == 0)
        {
            var all = OpTable.All;
            int per = 8 + timeoutLen;
            var b = new byte[4 + all.Length * per];
            BinaryPrimitives.WriteUInt32BigEndian(b, (uint)(all.Length * per));
            for (int i = 0; i < all.Length; i++)
            {
                var o = all[i];
                var d = b.AsSpan(4 + i * per);
                d[0] = o.Opcode;
                if (o.ServiceAction >= 0) BinaryPrimitives.WriteUInt16BigEndian(d[2..], (ushort)o.ServiceAction);
                d[5] = (byte)((rctd ? 0x02 : 0) | (o.ServiceAction >= 0 ? 0x01 : 0));
                BinaryPrimitives.WriteUInt16BigEndian(d[6..], (ushort)o.CdbLength);
                if (rctd) Timeouts(d[8..], o);
            }
            return DataIn(b, dataIn, alloc);
        }
        if (options > 3) return InvalidField(2, 2);

        bool hasSa = OpTable.HasServiceAction(reqOp);
        if (options == 1 && hasSa) return InvalidField(3);
        if (options == 2 && !hasSa && OpTable.Known(reqOp)) return InvalidField(2, 2);
        if (options == 1 && reqSa != 0) return InvalidField(4);
        var op = OpTable.Find(reqOp, hasSa ? reqSa : -1);
        if (op is null)
        {
            Span<byte> none = stackalloc byte[4];
            none[1] = 0x01; // SUPPORT 001b: not supported
            return DataIn(none, dataIn, alloc);
        }
        var one = new byte[4 + op.CdbLength + timeoutLen];
        one[1] = (byte)((rctd ? 0x80 : 0) | 0x03); // SUPPORT 011b: supported per standard
        BinaryPrimitives.WriteUInt16BigEndian(one.AsSpan(2), (ushort)op.CdbLength);
        op.Usage.CopyTo(one.AsSpan(4));
        if (rctd) Timeouts(one.AsSpan(4 + op.CdbLength), op);
        return DataIn(one, dataIn, alloc);
    }

    // SPC-4 §6.35.4 command timeouts descriptor
    private static void Timeouts(Span<byte> d, OpInfo op)
    {
        BinaryPrimitives.WriteUInt16BigEndian(d, 0x0A);
        BinaryPrimitives.WriteUInt32BigEndian(d[4..], op.NominalTimeout);
        BinaryPrimitives.WriteUInt32BigEndian(d[8..], op.NominalTimeout == 0 ? 30u : op.NominalTimeout * 4);
    }

    // SPC-4 §6.36 REPORT SUPPORTED TASK MANAGEMENT FUNCTIONS
    private static ScsiResult ReportSupportedTmf(ReadOnlySpan<byte> cdb, Span<byte> dataIn)
    {
        bool repd = (cdb[2] & 0x80) != 0;
        uint alloc = Be32(cdb, 6);
        Span<byte> b = stackalloc byte[16];
        b[0] = 0x80 | 0x40 | 0x20 | 0x08 | 0x02; // ABORT TASK, ABORT TASK SET, CLEAR ACA?, LU RESET, TARGET RESET
        b[0] &= 0xDF; // no ACA: CLEAR ACA not supported
        b[1] = 0x00;
        if (repd) b[3] = 0x0C;
        return DataIn(b[..(repd ? 16 : 4)], dataIn, alloc);
    }

    // SPC-4 §6.39 REQUEST SENSE: reports (and clears) a pending unit attention, else the current state.
    private ScsiResult RequestSense(ReadOnlySpan<byte> cdb, Span<byte> dataIn, NexusState nx)
    {
        bool desc = (cdb[1] & 0x01) != 0;
        int alloc = cdb[4];
        byte[] sense;
        if (nx.TryTake(out var ua)) sense = ScsiSense.Build(desc, SenseKey.UnitAttention, ua);
        else if (_mediumEjected) sense = ScsiSense.Build(desc, SenseKey.NotReady, Asc.MediumNotPresentTrayOpen);
        else sense = ScsiSense.Build(desc, SenseKey.NoSense, Asc.NoAdditionalSense);
        return DataIn(sense, dataIn, alloc);
    }

    // SBC-3 §5.13/5.14 READ DEFECT DATA: a virtual medium has no defects; an empty list in the requested format.
    private ScsiResult ReadDefectData(ReadOnlySpan<byte> cdb, Span<byte> dataIn)
    {
        bool twelve = cdb[0] == ScsiOp.ReadDefectData12;
        byte flags = (byte)(cdb[twelve ? 1 : 2] & 0x1F);
        uint alloc = twelve ? Be32(cdb, 6) : Be16(cdb, 7);
        Span<byte> b = stackalloc byte[8];
        b[1] = flags;
        return DataIn(b[..(twelve ? 8 : 4)], dataIn, alloc);
    }

    // ------------------------------------------------------------------------------------------------------------
    // SBC-3 §5.25 START STOP UNIT and §5.12 PREVENT ALLOW MEDIUM REMOVAL (removable-medium emulation).

    private volatile bool _mediumEjected;

    private static bool NeedsMedium(byte op) => op switch
    {
        ScsiOp.Inquiry or ScsiOp.ReportLuns or ScsiOp.RequestSense or ScsiOp.StartStopUnit
            or ScsiOp.PreventAllowMediumRemoval or ScsiOp.MaintenanceIn or ScsiOp.ModeSense6 or ScsiOp.ModeSense10
            or ScsiOp.ModeSelect6 or ScsiOp.ModeSelect10 or ScsiOp.PersistentReserveIn or ScsiOp.PersistentReserveOut
            or ScsiOp.Reserve6 or ScsiOp.Reserve10 or ScsiOp.Release6 or ScsiOp.Release10 => false,
        _ => true,
    };

    private bool AnyPrevent()
    {
        foreach (var (_, s) in _nexuses) if (s.Prevent) return true;
        return false;
    }

    private ScsiResult StartStopUnit(ReadOnlySpan<byte> cdb)
    {
        int powerCondition = cdb[4] >> 4;
        bool loej = (cdb[4] & 0x02) != 0, start = (cdb[4] & 0x01) != 0;
        if (powerCondition != 0 || !loej || !_options.Removable) return ScsiResult.Good(0, 0);
        if (AnyPrevent()) return Check(SenseKey.IllegalRequest, Asc.MediumRemovalPrevented);
        if (!start) _device.Flush();
        _mediumEjected = !start;
        return ScsiResult.Good(0, 0);
    }

    private static ScsiResult PreventAllow(ReadOnlySpan<byte> cdb, NexusState nx)
    {
        nx.Prevent = (cdb[4] & 0x01) != 0;
        return ScsiResult.Good(0, 0);
    }
}
