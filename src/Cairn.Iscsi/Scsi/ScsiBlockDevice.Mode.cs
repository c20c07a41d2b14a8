using System.Buffers.Binary;

namespace Cairn.Iscsi.Scsi;

public sealed partial class ScsiBlockDevice
{
    // Current mode parameters (one set per logical unit; SPC-4 §7.5). Saved values are not supported.
    private volatile bool _wce = true;
    private volatile bool _dSense;
    private volatile bool _swp;
    private readonly Lock _modeGate = new();

    private const byte PageCaching = 0x08, PageControl = 0x0A, PageInformationalExceptions = 0x1C, AllPages = 0x3F;
    private static readonly byte[] s_pages = [PageCaching, PageControl, PageInformationalExceptions];

    private enum PageControlKind { Current = 0, Changeable = 1, Default = 2, Saved = 3 }

    /// <summary>A mode page (SPC-4 §7.5.7 page_0 format) for the page control.</summary>
    private byte[] ModePage(byte page, PageControlKind pc)
    {
        bool changeable = pc == PageControlKind.Changeable, dflt = pc == PageControlKind.Default;
        switch (page)
        {
            case PageCaching:
            {
                // SBC-3 §6.4.5 Caching mode page: WCE (write-back cache) changeable; RCD 0.
                var b = new byte[20];
                b[0] = PageCaching;
                b[1] = 18;
                if (changeable) b[2] = 0x04;
                else if (dflt ? true : _wce) b[2] = 0x04;
                return b;
            }
            case PageControl:
            {
                // SPC-4 §7.5.8 Control mode page: D_SENSE and SWP changeable; QERR 00b; TAS 1.
                var b = new byte[12];
                b[0] = PageControl;
                b[1] = 10;
                if (changeable)
                {
                    b[2] = 0x04;
                    b[4] = 0x08;
                    return b;
                }
                b[3] = 0x10; // queue algorithm modifier 1: unrestricted reordering
                if (!dflt)
                {
                    if (_dSense) b[2] |= 0x04;
                    if (_swp) b[4] |= 0x08;
                }
                b[5] = 0x40; // TAS
                BinaryPrimitives.WriteUInt16BigEndian(b.AsSpan(8), 0xFFFF); // busy timeout: unlimited
                return b;
            }
            case PageInformationalExceptions:
            {
                // SPC-4 §7.5.11 Informational Exceptions Control: exceptions disabled (DEXCPT), nothing changeable.
                var b = new byte[12];
                b[0] = PageInformationalExceptions;
                b[1] = 10;
                if (!changeable) b[2] = 0x08;
                return b;
            }
            default:
                throw new ArgumentOutOfRangeException(nameof(page));
        }
    }

    // SPC-4 §6.11/6.12 MODE SENSE (6/10)
    private ScsiResult ModeSense(ReadOnlySpan<byte> cdb, Span<byte> dataIn)
    {
        bool ten = cdb[0] == ScsiOp.ModeSense10;
        bool dbd = (cdb[1] & 0x08) != 0;
        bool llbaa = ten && (cdb[1] & 0x10) != 0;
        var pc = (PageControlKind)(cdb[2] >> 6);
        byte page = (byte)(cdb[2] & 0x3F);
        byte subpage = cdb[3];
        int alloc = ten ? Be16(cdb, 7) : cdb[4];
        if (pc == PageControlKind.Saved) return Check(SenseKey.IllegalRequest, Asc.SavingParametersNotSupported, 2, 7);

        var pages = new List<byte[]>();
        if (page == AllPages)
        {
            if (subpage is not (0x00 or 0xFF)) return InvalidField(3);
            foreach (var p in s_pages) pages.Add(ModePage(p, pc));
        }
        else
        {
            if (subpage != 0 || Array.IndexOf(s_pages, page) < 0) return InvalidField(2, 5);
            pages.Add(ModePage(page, pc));
        }

        int header = ten ? 8 : 4;
        int blockDesc = dbd ? 0 : llbaa ? 16 : 8;
        int total = header + blockDesc;
        foreach (var p in pages) total += p.Length;
        var b = new byte[total];
        // SBC-3 §6.4.2 device-specific parameter: WP, DPOFUA.
        byte dsp = (byte)((WriteProtected ? 0x80 : 0) | 0x10);
        if (ten)
        {
            BinaryPrimitives.WriteUInt16BigEndian(b, (ushort)(total - 2));
            b[3] = dsp;
            b[4] = (byte)(llbaa ? 0x01 : 0);
            BinaryPrimitives.WriteUInt16BigEndian(b.AsSpan(6), (ushort)blockDesc);
        }
        else
        {
            b[0] = (byte)Math.Min(total - 1, 255);
            b[2] = dsp;
            b[3] = (byte)blockDesc;
        }
        int at = header;
        if (blockDesc == 8)
        {
            // SBC-3 §6.4.4.2 short LBA mode parameter block descriptor
            long n = Blocks;
            BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(at), n > uint.MaxValue ? uint.MaxValue : (uint)n);
            BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(at + 4), BlockSize); // density code 0 in the top byte
        }
        else if (blockDesc == 16)
        {
            // SBC-3 §6.4.4.3 long LBA mode parameter block descriptor
            BinaryPrimitives.WriteInt64BigEndian(b.AsSpan(at), Blocks);
            BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(at + 12), BlockSize);
        }
        at += blockDesc;
        foreach (var p in pages) { p.CopyTo(b.AsSpan(at)); at += p.Length; }
        return DataIn(b, dataIn, alloc);
    }

    // SPC-4 §6.9/6.10 MODE SELECT (6/10): only changeable bits may differ from the current values.
    private ScsiResult ModeSelect(ReadOnlySpan<byte> cdb, ReadOnlySpan<byte> dataOut, in ScsiNexus nexus)
    {
        bool ten = cdb[0] == ScsiOp.ModeSelect10;
        if ((cdb[1] & 0x01) != 0) return InvalidField(1, 0); // SP: saved pages unsupported
        int listLength = ten ? Be16(cdb, 7) : cdb[4];
        if (listLength == 0) return ScsiResult.Good(0, 0);
        if (dataOut.Length < listLength) return ParameterListLengthError();
        var p = dataOut[..listLength];
        int header = ten ? 8 : 4;
        if (p.Length < header) return ParameterListLengthError();
        int bdLength = ten ? Be16(p, 6) : p[3];
        if (header + bdLength > p.Length) return ParameterListLengthError();
        if (bdLength != 0)
        {
            // One block descriptor whose block length is ours (or 0: unchanged); the block count is ignored.
            bool longLba = ten && (p[4] & 0x01) != 0;
            if (bdLength != (longLba ? 16 : 8)) return InvalidParameter(ten ? 6 : 3);
            uint len = longLba ? Be32(p, header + 12) : (Be32(p, header + 4) & 0x00FF_FFFF);
            if (len != 0 && len != BlockSize) return InvalidParameter(header + (longLba ? 12 : 5));
        }

        bool wce = _wce, dSense = _dSense, swp = _swp;
        int at = header + bdLength;
        while (at < p.Length)
        {
            if (p.Length - at < 2) return ParameterListLengthError();
            byte code = (byte)(p[at] & 0x3F);
            if ((p[at] & 0x40) != 0) return InvalidParameter(at, 6); // subpage format: none supported
            int len = p[at + 1] + 2;
            if (at + len > p.Length) return ParameterListLengthError();
            if (Array.IndexOf(s_pages, code) < 0) return InvalidParameter(at, 5);
            var current = ModePage(code, PageControlKind.Current);
            var mask = ModePage(code, PageControlKind.Changeable);
            if (len != current.Length) return InvalidParameter(at + 1);
            var page = p.Slice(at, len);
            for (int i = 2; i < len; i++)
            {
                int diff = (page[i] ^ current[i]) & ~mask[i];
                if (diff != 0) return InvalidParameter(at + i, 31 - int.LeadingZeroCount(diff));
            }
            switch (code)
            {
                case PageCaching: wce = (page[2] & 0x04) != 0; break;
                case PageControl: dSense = (page[2] & 0x04) != 0; swp = (page[4] & 0x08) != 0; break;
            }
            at += len;
        }

        lock (_modeGate)
        {
            bool changed = wce != _wce || dSense != _dSense || swp != _swp;
            if (!wce && _wce) _device.Flush(); // turning the write cache off: what it holds becomes durable now
            _wce = wce;
            _dSense = dSense;
            _swp = swp;
            // SPC-4 §7.5.2: other I_T nexuses learn of the change through MODE PARAMETERS CHANGED.
            if (changed) UnitAttentionAll(Asc.ModeParametersChanged, nexus);
        }
        return ScsiResult.Good(0, listLength);
    }
}
