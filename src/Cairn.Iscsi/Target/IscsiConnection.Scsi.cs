using System.Buffers;
using System.Diagnostics;
using Cairn.Iscsi.Protocol;
using Cairn.Iscsi.Scsi;

namespace Cairn.Iscsi.Target;

public sealed partial class IscsiConnection
{
    private const int MaxCdb = 16 + 1020;
    private readonly byte[] _cdb = new byte[MaxCdb];
    private readonly Dictionary<uint, WriteTask> _writes = [];
    private readonly Stack<WriteTask> _writePool = new();
    private uint _nextTtt;

    /// <summary>A write waiting for its data-out (RFC 7143 §3.2.4.3, R2T §11.8).</summary>
    private sealed class WriteTask
    {
        public uint Itt;
        public ulong RawLun;
        public int Lun;
        public byte[] Cdb = new byte[MaxCdb];
        public int CdbLength;
        public uint Edtl;
        public int Need;             // bytes the LU wants: min(DataOutLength, EDTL, cap)
        public byte[]? Buffer;
        public int Granted, Taken;   // bytes booked in the write buffer budget (see Reserve)
        public bool Deferred;        // waiting for room: no R2T yet
        public int Received;         // bytes received inside [0, Need)
        public int UnsolicitedEnd;   // unsolicited data may cover [immediate, UnsolicitedEnd)
        public int UnsolicitedOffset; // next expected unsolicited offset
        public uint UnsolicitedDataSn;
        public int NextR2TOffset;    // next byte to solicit
        public uint NextR2TSn;
        public readonly List<R2T> Outstanding = [];
    }

    private struct R2T
    {
        public uint Ttt;
        public int Offset;
        public int Length;
        public int Received;
        public uint NextDataSn;
    }

    // RFC 7143 §11.3 SCSI Command.
    private void OnScsiCommand()
    {
        if (_discovery) { SendReject(RejectReason.ProtocolError); return; }
        if (!AcceptCmdSn(_pdu.U32(24), _pdu.Immediate)) return;
        RefreshTarget();
        byte flags = _pdu.Flags;
        bool read = (flags & 0x40) != 0, write = (flags & 0x20) != 0;
        uint itt = _pdu.InitiatorTaskTag;
        uint edtl = _pdu.U32(20);
        ulong rawLun = _pdu.Lun;
        int lun = DecodeLun(rawLun);
        int cdbLength = ReadCdb();
        if (cdbLength < 0) { SendReject(RejectReason.InvalidPduField); return; }
        int immediate = _pdu.DataSegmentLength;
        if (immediate > 0 && (!write || !_params.ImmediateData || immediate > _params.FirstBurstLength || immediate > edtl))
        {
            ProtocolError("immediate data not allowed here");
            return;
        }
        if (!write && (flags & 0x80) == 0) { ProtocolError("SCSI command without F bit"); return; }
        var unit = lun >= 0 && _target!.Luns.TryGetValue(lun, out var u) ? u : null;
        if (write && unit is not null)
        {
            long want = Math.Min(Math.Min(SafeDataOutLength(unit, lun, cdbLength), edtl), _options.MaxCommandBuffer);
            if (want > immediate) { StartWrite(itt, rawLun, lun, cdbLength, edtl, (int)want, immediate, (flags & 0x80) != 0); return; }
            if (want > 0)
            {
                var data = _pdu.Data.Slice(0, want);
                if (data.IsSingleSegment) { Execute(unit, lun, rawLun, itt, _cdb.AsSpan(0, cdbLength), data.FirstSpan, edtl, read, write); return; }
                var tmp = ArrayPool<byte>.Shared.Rent((int)want);
                data.CopyTo(tmp);
                try { Execute(unit, lun, rawLun, itt, _cdb.AsSpan(0, cdbLength), tmp.AsSpan(0, (int)want), edtl, read, write); }
                finally { ArrayPool<byte>.Shared.Return(tmp); }
                return;
            }
        }
        Execute(unit, lun, rawLun, itt, _cdb.AsSpan(0, cdbLength), default, edtl, read, write);
    }

    private long SafeDataOutLength(IScsiLogicalUnit unit, int lun, int cdbLength)
    {
        try { return Math.Max(0, unit.DataOutLength(_cdb.AsSpan(0, cdbLength))); }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            Log.UnitFailed(_log, ex, TargetName, lun);
            return 0;
        }
    }

    /// <summary>CDB from the BHS plus an Extended CDB AHS (RFC 7143 §11.2.2.3); -1 when malformed.</summary>
    private int ReadCdb()
    {
        _pdu.Header.AsSpan(32, 16).CopyTo(_cdb);
        _cdb.AsSpan(16).Clear();
        if (_pdu.TotalAhsLength == 0) return 16;
        var ahs = _pdu.Ahs;
        Span<byte> head = stackalloc byte[4];
        int length = 16;
        while (ahs.Length >= 4)
        {
            ahs.Slice(0, 4).CopyTo(head);
            int len = (head[0] << 8) | head[1];
            int padded = (len + 3) & ~3;
            if (4 + padded > ahs.Length) return -1;
            if (head[2] == 1 && len > 1)
            {
                // AHSLength counts the reserved byte; the CDB tail is len-1 bytes.
                int extra = len - 1;
                if (16 + extra > MaxCdb) return -1;
                ahs.Slice(4, extra).CopyTo(_cdb.AsSpan(16));
                length = 16 + extra;
            }
            ahs = ahs.Slice(4 + padded);
        }
        return length;
    }

    private void RefreshTarget()
    {
        int v = _registry.Version;
        if (v == _targetVersion) return;
        _targetVersion = v;
        if (_registry.Find(TargetName) is { } t) _target = t;
    }

    /// <summary>SAM-5 §4.7 LUN: peripheral (0..255) or flat (0..16383) single-level addressing.</summary>
    internal static int DecodeLun(ulong raw)
    {
        if ((raw & 0x0000FFFFFFFFFFFFUL) != 0) return -1;
        int b0 = (int)(raw >> 56), b1 = (int)(raw >> 48) & 0xFF;
        return (b0 >> 6) switch
        {
            0 => b0 == 0 ? b1 : -1,
            1 => ((b0 & 0x3F) << 8) | b1,
            _ => -1,
        };
    }

    private void Execute(IScsiLogicalUnit? unit, int lun, ulong rawLun, uint itt, ReadOnlySpan<byte> cdb, ReadOnlySpan<byte> dataOut,
        uint edtl, bool read, bool write)
    {
        var info = new ScsiCommandInfo(edtl, read, write, _nexus);
        int cap = read ? (int)Math.Min(edtl, (uint)_options.MaxCommandBuffer) : 0;
        int mrdsl = _params.InitiatorMaxRecvDataSegmentLength;

        if (cap > 0 && cap <= mrdsl && cap <= _params.MaxBurstLength)
        {
            // Fast path: one Data-In PDU; the LU fills the pipe's own buffer behind the header.
            int hdr = Pdu.BhsLength + (_headerDigest ? 4 : 0);
            var span = _output.GetSpan(PduWriter.WireLength(cap, _headerDigest, _dataDigest));
            var result = Run(unit, lun, cdb, dataOut, span.Slice(hdr, cap), info);
            int n = Math.Clamp(result.DataInLength, 0, cap);
            if (n > 0)
            {
                bool collapse = CanCollapse(result);
                var h = Bhs(IscsiOpcode.DataIn, 0x80, n);
                FillDataIn(h, rawLun, itt, 0, 0, collapse, result, edtl, n);
                int w = PduWriter.FrameHeader(span, h, _headerDigest);
                w += PduWriter.FinishData(span[w..], n, _dataDigest);
                _output.Advance(w);
                if (collapse) return;
            }
            SendResponse(itt, result, edtl, read, n);
            return;
        }

        byte[]? buffer = cap > 0 ? _budget.Rent(cap) : null;
        try
        {
            var result = Run(unit, lun, cdb, dataOut, buffer.AsSpan(0, cap), info);
            int n = Math.Clamp(result.DataInLength, 0, cap);
            if (n > 0 && SendDataIn(rawLun, itt, buffer.AsSpan(0, n), result, edtl)) return;
            SendResponse(itt, result, edtl, read, n);
        }
        finally
        {
            if (buffer is not null) _budget.Return(buffer);
        }
    }

    private ScsiResult Run(IScsiLogicalUnit? unit, int lun, ReadOnlySpan<byte> cdb, ReadOnlySpan<byte> dataOut, Span<byte> dataIn, in ScsiCommandInfo info)
    {
        long started = Stopwatch.GetTimestamp();
        ScsiResult result;
        if (unit is null) result = MissingLun.Execute(_target!, cdb, dataOut, dataIn, info);
        else
        {
            try { result = unit.Execute(cdb, dataOut, dataIn, info); }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                // A storage fault is not swallowed: logged here, reported to the initiator as a hardware error.
                Log.UnitFailed(_log, ex, TargetName, lun);
                result = new ScsiResult(ScsiStatus.CheckCondition, 0, 0, MissingLun.Sense(0x04, 0x44, 0x00));
            }
        }
        _counters?.Record(Stopwatch.GetTimestamp() - started, Math.Clamp(result.DataInLength, 0, dataIn.Length),
            result.Status == ScsiStatus.Good ? dataOut.Length : 0);
        return result;
    }

    // RFC 7143 §11.7.4: status may ride on the last Data-In when there is no sense data.
    private static bool CanCollapse(in ScsiResult r) => r.Sense.IsEmpty && r.Status is ScsiStatus.Good or ScsiStatus.ConditionMet;

    /// <summary>Sends data-in split at MaxRecvDataSegmentLength and sequences at MaxBurstLength; true when status was collapsed.</summary>
    private bool SendDataIn(ulong rawLun, uint itt, ReadOnlySpan<byte> data, in ScsiResult result, uint edtl)
    {
        int mrdsl = _params.InitiatorMaxRecvDataSegmentLength, burst = _params.MaxBurstLength;
        bool collapse = CanCollapse(result);
        uint dataSn = 0;
        int offset = 0, inBurst = 0;
        while (offset < data.Length)
        {
            int len = Math.Min(Math.Min(mrdsl, data.Length - offset), burst - inBurst);
            bool last = offset + len == data.Length;
            inBurst += len;
            bool endOfBurst = last || inBurst == burst;
            if (endOfBurst) inBurst = 0;
            var h = Bhs(IscsiOpcode.DataIn, (byte)(endOfBurst ? 0x80 : 0), len);
            FillDataIn(h, rawLun, itt, dataSn++, offset, last && collapse, result, edtl, data.Length);
            Send(data.Slice(offset, len));
            offset += len;
        }
        return collapse;
    }

    // RFC 7143 §11.7 SCSI Data-In.
    private void FillDataIn(Span<byte> h, ulong rawLun, uint itt, uint dataSn, int offset, bool withStatus, in ScsiResult r, uint edtl, int sent)
    {
        PduWriter.U64(h, 8, rawLun);
        PduWriter.U32(h, 16, itt);
        PduWriter.U32(h, 20, Reserved);
        if (withStatus)
        {
            var (flags, residual) = Residual(r, edtl, true, sent);
            h[1] |= (byte)(0x01 | flags);
            h[3] = r.Status;
            PduWriter.U32(h, 24, NextStatSn());
            PduWriter.U32(h, 44, residual);
        }
        PduWriter.U32(h, 28, _expCmdSn);
        PduWriter.U32(h, 32, _maxCmdSn);
        PduWriter.U32(h, 36, dataSn);
        PduWriter.U32(h, 40, (uint)offset);
    }

    /// <summary>Residual flags (O=0x04, U=0x02) and count per the ScsiResult contract.</summary>
    private static (byte Flags, uint Residual) Residual(in ScsiResult r, uint edtl, bool read, int sent)
    {
        long t = r.TransferLength;
        if (t > edtl) return (0x04, (uint)Math.Min(t - edtl, uint.MaxValue));
        if (t < edtl) return (0x02, read ? edtl - (uint)sent : edtl - (uint)Math.Max(0, t));
        return (0, 0);
    }

    // RFC 7143 §11.4 SCSI Response.
    private void SendResponse(uint itt, in ScsiResult r, uint edtl, bool read, int sent)
    {
        int senseLength = r.Sense.Length;
        int dataLength = senseLength > 0 ? senseLength + 2 : 0;
        var (flags, residual) = Residual(r, edtl, read, sent);
        var h = Bhs(IscsiOpcode.ScsiResponse, (byte)(0x80 | flags), dataLength);
        h[2] = 0; // command completed at target
        h[3] = r.Status;
        PduWriter.U32(h, 16, itt);
        Sequence();
        PduWriter.U32(h, 36, 0);
        PduWriter.U32(h, 44, residual);
        if (dataLength == 0) { Send(); return; }
        Span<byte> data = stackalloc byte[Math.Min(dataLength, 2 + 260)];
        int sl = data.Length - 2;
        data[0] = (byte)(sl >> 8);
        data[1] = (byte)sl;
        r.Sense.Span[..sl].CopyTo(data[2..]);
        PduWriter.SetDataLength(h, data.Length);
        Send(data);
    }
}
