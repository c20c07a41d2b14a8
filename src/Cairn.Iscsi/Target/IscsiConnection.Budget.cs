namespace Cairn.Iscsi.Target;

// Backpressure for writes: a write's buffer is granted from the target-wide WriteBufferBudget (and this connection's
// MaxPendingWriteBytes) before its R2Ts go out. A write that does not fit waits, in order, with its R2Ts held back; the
// connection goes on reading (Data-Out of granted writes, other commands), so the writes that hold the budget can
// finish and no connection waits on itself. The command window closes meanwhile (UpdateWindow counts waiting writes),
// so the initiator stops sending commands instead of seeing them fail.
public sealed partial class IscsiConnection : IBudgetWaiter
{
    private readonly WriteBufferBudget _budget;
    private readonly List<WriteTask> _deferred = [];
    private long _grantedWriteBytes;
    private volatile bool _budgetWake;

    /// <summary>Writes waiting for room in the write buffer budget (for tests and diagnostics).</summary>
    public int WritesWaitingForBuffer => _deferred.Count;

    /// <summary>
    /// Books <paramref name="w"/>'s buffer. Data the initiator may send before any R2T (<paramref name="unsolicited"/>:
    /// immediate data and the unsolicited burst, at most FirstBurstLength) is taken whatever the budget says; a write
    /// that is all unsolicited needs nothing more. The rest is granted now if it fits, else the write waits.
    /// </summary>
    private void Reserve(WriteTask w, int unsolicited)
    {
        w.Deferred = false;
        w.Granted = w.Taken = 0;
        if (unsolicited >= w.Need)
        {
            w.Taken = w.Need;
            _budget.Take(w.Need);
            return;
        }
        if (_deferred.Count == 0 && FitsConnection(w.Need) && _budget.TryTake(w.Need, this))
        {
            w.Granted = w.Need;
            _grantedWriteBytes += w.Need;
            return;
        }
        w.Deferred = true;
        w.Taken = unsolicited;
        _budget.Take(unsolicited);
        _deferred.Add(w);
    }

    private bool FitsConnection(int bytes) => _grantedWriteBytes + bytes <= _options.MaxPendingWriteBytes;

    /// <summary>Grants waiting writes, oldest first, while they fit; issues their R2Ts. Runs on the read loop.</summary>
    private void GrantDeferred()
    {
        _budgetWake = false;
        while (_deferred.Count > 0)
        {
            var w = _deferred[0];
            if (!FitsConnection(w.Need))
            {
                // Waits for this connection's own writes, not for the budget: let other connections go first meanwhile.
                _budget.Withdraw(this);
                return;
            }
            if (!_budget.TryTake(w.Need, this)) return;
            _deferred.RemoveAt(0);
            w.Deferred = false;
            w.Granted = w.Need;
            _grantedWriteBytes += w.Need;
            if (w.Buffer is not null)
            {
                // The unsolicited data received so far moves from its small buffer to the whole one.
                var whole = _budget.Rent(w.Need);
                w.Buffer.AsSpan(0, w.Taken).CopyTo(whole);
                _budget.Return(w.Buffer);
                w.Buffer = whole;
            }
            _budget.Release(0, w.Taken);
            w.Taken = 0;
            IssueR2Ts(w);
        }
        _budget.Withdraw(this);
    }

    void IBudgetWaiter.BudgetAvailable()
    {
        _budgetWake = true;
        _input.CancelPendingRead();
    }
}
