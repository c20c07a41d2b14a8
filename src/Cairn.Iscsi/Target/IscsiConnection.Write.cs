using System.Buffers;
using Cairn.Iscsi.Protocol;

namespace Cairn.Iscsi.Target;

public sealed partial class IscsiConnection
{
    private const int MaxPendingTasks = 256;

    private void StartWrite(uint itt, ulong rawLun, int lun, int cdbLength, uint edtl, int need, int immediate, bool final)
    {
        if (_writes.ContainsKey(itt)) { SendReject(RejectReason.TaskInProgress); return; }
        if (_writes.Count >= MaxPendingTasks) { SendReject(RejectReason.ImmediateCommandReject); return; }
        var w = _writePool.Count > 0 ? _writePool.Pop() : new WriteTask();
        w.Itt = itt;
        w.RawLun = rawLun;
        w.Lun = lun;
        _cdb.AsSpan(0, cdbLength).CopyTo(w.Cdb);
        w.CdbLength = cdbLength;
        w.Edtl = edtl;
        w.Need = need;
        w.Received = 0;
        w.Buffer = null;
        w.Outstanding.Clear();
        w.NextR2TSn = 0;
        // RFC 7143 §13.13/§13.14: unsolicited data (immediate + Data-Out) up to FirstBurstLength when InitialR2T=No.
        w.UnsolicitedOffset = immediate;
        w.UnsolicitedDataSn = 0;
        w.UnsolicitedEnd = !_params.InitialR2T && !final ? (int)Math.Min(_params.FirstBurstLength, edtl) : immediate;
        w.NextR2TOffset = Math.Max(w.UnsolicitedEnd, immediate);
        Reserve(w, Math.Min(w.Need, w.NextR2TOffset));
        _writes[itt] = w;
        if (immediate > 0 && !Accept(w, 0, _pdu.Data)) return;
        IssueR2Ts(w);
        UpdateWindow();
    }

    /// <summary>Copies the part of a data segment that falls inside [0, Need) into the task buffer.</summary>
    private bool Accept(WriteTask w, int offset, in ReadOnlySequence<byte> data)
    {
        // A write still waiting for room gets a buffer for its unsolicited data only (see Reserve).
        w.Buffer ??= _budget.Rent(w.Deferred ? w.Taken : w.Need);
        if (offset >= w.Need) return true;
        int len = (int)Math.Min(data.Length, w.Need - offset);
        data.Slice(0, len).CopyTo(w.Buffer.AsSpan(offset));
        w.Received += len;
        return true;
    }

    // RFC 7143 §11.8 R2T: at most MaxOutstandingR2T per task, each at most MaxBurstLength.
    private void IssueR2Ts(WriteTask w)
    {
        if (w.Deferred) return; // its R2Ts wait for room in the budget
        while (w.Outstanding.Count < _params.MaxOutstandingR2T && w.NextR2TOffset < w.Need)
        {
            int len = Math.Min(_params.MaxBurstLength, w.Need - w.NextR2TOffset);
            uint ttt = NewTtt();
            w.Outstanding.Add(new R2T { Ttt = ttt, Offset = w.NextR2TOffset, Length = len });
            var h = Bhs(IscsiOpcode.ReadyToTransfer, 0x80, 0);
            PduWriter.U64(h, 8, w.RawLun);
            PduWriter.U32(h, 16, w.Itt);
            PduWriter.U32(h, 20, ttt);
            Sequence(advanceStatSn: false);
            PduWriter.U32(h, 36, w.NextR2TSn++);
            PduWriter.U32(h, 40, (uint)w.NextR2TOffset);
            PduWriter.U32(h, 44, (uint)len);
            Send();
            w.NextR2TOffset += len;
        }
    }

    // RFC 7143 §11.7 SCSI Data-Out.
    private void OnDataOut()
    {
        uint itt = _pdu.InitiatorTaskTag, ttt = _pdu.U32(20), dataSn = _pdu.U32(36);
        int offset = (int)Math.Min(_pdu.U32(40), int.MaxValue);
        int len = _pdu.DataSegmentLength;
        // Data for a task we no longer have (aborted, or answered from immediate data) is dropped.
        if (!_writes.TryGetValue(itt, out var w)) return;
        if ((long)offset + len > w.Edtl) { FailWrite(w); return; }

        if (ttt == Reserved)
        {
            if (offset != w.UnsolicitedOffset || offset + len > w.UnsolicitedEnd || dataSn != w.UnsolicitedDataSn)
            {
                FailWrite(w); // out of order or over FirstBurstLength
                return;
            }
            w.UnsolicitedOffset += len;
            w.UnsolicitedDataSn++;
            if (!Accept(w, offset, _pdu.Data)) return;
            if (_pdu.Final) w.UnsolicitedEnd = w.UnsolicitedOffset; // unsolicited sequence over
        }
        else
        {
            int i = w.Outstanding.FindIndex(r => r.Ttt == ttt);
            if (i < 0) { FailWrite(w); return; }
            var r = w.Outstanding[i];
            if (dataSn != r.NextDataSn || offset != r.Offset + r.Received || r.Received + len > r.Length)
            {
                FailWrite(w); // DataSN or offset does not follow the R2T
                return;
            }
            r.NextDataSn++;
            r.Received += len;
            w.Outstanding[i] = r;
            if (!Accept(w, offset, _pdu.Data)) return;
            if (_pdu.Final)
            {
                if (r.Received != r.Length) { FailWrite(w); return; }
                w.Outstanding.RemoveAt(i);
            }
        }

        if (w.Received >= w.Need && w.Outstanding.Count == 0) CompleteWrite(w);
        else if (_pdu.Final) IssueR2Ts(w);
    }

    private void CompleteWrite(WriteTask w)
    {
        _writes.Remove(w.Itt);
        try
        {
            RefreshTarget();
            var unit = _target!.Luns.TryGetValue(w.Lun, out var u) ? u : null;
            Execute(unit, w.Lun, w.RawLun, w.Itt, w.Cdb.AsSpan(0, w.CdbLength), w.Buffer.AsSpan(0, w.Need), w.Edtl, false, true);
        }
        finally
        {
            ReleaseWrite(w);
            UpdateWindow();
        }
    }

    /// <summary>
    /// A Data-Out that breaks the sequence (DataSN, offset, TTT, EDTL): the task ends with CHECK CONDITION, ABORTED
    /// COMMAND / DATA PHASE ERROR (4Bh/00h) and the connection carries on; later Data-Out for it is dropped.
    /// </summary>
    private void FailWrite(WriteTask w)
    {
        _writes.Remove(w.Itt);
        var result = new Cairn.Iscsi.Scsi.ScsiResult(Cairn.Iscsi.Scsi.ScsiStatus.CheckCondition, 0, w.Need, MissingLun.Sense(0x0B, 0x4B, 0x00));
        SendResponse(w.Itt, result, w.Edtl, false, 0);
        ReleaseWrite(w);
        UpdateWindow();
    }

    private void ReleaseWrite(WriteTask w)
    {
        if (w.Buffer is not null)
        {
            _budget.Return(w.Buffer);
            w.Buffer = null;
        }
        if (w.Deferred && _deferred.Remove(w) && _deferred.Count == 0) _budget.Withdraw(this); // aborted while waiting
        _grantedWriteBytes -= w.Granted;
        _budget.Release(w.Granted, w.Taken);
        w.Granted = w.Taken = 0;
        w.Deferred = false;
        if (_writePool.Count < 64) _writePool.Push(w);
    }

    /// <summary>Drops pending writes (ABORT TASK and friends); no response is sent for them (RFC 7143 §11.5.1).</summary>
    private int AbortWrites(Func<WriteTask, bool> match)
    {
        int n = 0;
        foreach (var w in _writes.Values.Where(match).ToArray())
        {
            _writes.Remove(w.Itt);
            ReleaseWrite(w);
            n++;
        }
        if (n > 0) UpdateWindow();
        return n;
    }
}
