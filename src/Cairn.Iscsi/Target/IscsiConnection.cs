using System.Buffers;
using System.IO.Pipelines;
using Cairn.Iscsi.Protocol;
using Cairn.Iscsi.Scsi;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Cairn.Iscsi.Target;

/// <summary>
/// One iSCSI connection and its session (MaxConnections=1, ErrorRecoveryLevel=0): login, then full feature phase.
/// Runs over a pair of pipes and nothing else, so tests can drive it without sockets. Commands run inline on the read
/// loop; responses are batched and flushed once per read.
/// </summary>
public sealed partial class IscsiConnection : IIscsiSession
{
    private const uint Reserved = 0xFFFFFFFF;
    private const long FlushThreshold = 512 * 1024;

    private readonly PipeReader _input;
    private readonly PipeWriter _output;
    private readonly TargetRegistry _registry;
    private readonly IscsiTargetOptions _options;
    private readonly ILogger _log;
    private readonly string _connectionId;
    private readonly string _portal;
    private readonly Pdu _pdu = new();
    private readonly byte[] _bhs = new byte[Pdu.BhsLength];
    private readonly SessionParameters _params = new();
    private readonly ParameterNegotiator _negotiator;

    private bool _fullFeature;
    private bool _closeAfterFlush;
    private bool _headerDigest, _dataDigest; // outbound, active once full feature phase starts
    private uint _statSn, _expCmdSn, _maxCmdSn;

    // End requests come from other threads (registry).
    private volatile int _endReason = -1;
    private bool _logoutRequested;
    private long _logoutDeadline;

    /// <summary>
    /// Creates a connection over <paramref name="input"/>/<paramref name="output"/>; <paramref name="portal"/> is the address
    /// initiators reach us at (<c>ip:port</c>), used for SendTargets' TargetAddress.
    /// </summary>
    public IscsiConnection(PipeReader input, PipeWriter output, TargetRegistry registry, IscsiTargetOptions options, string portal,
        string connectionId, ILogger? logger = null, string? initiatorAddress = null, WriteBufferBudget? writeBuffers = null)
    {
        // Without a shared budget (a connection built on its own, as in tests) the connection has one of its own.
        _budget = writeBuffers ?? new WriteBufferBudget(options.MaxBufferedWriteBytes, Timeout.InfiniteTimeSpan);
        InitiatorAddress = initiatorAddress;
        _input = input;
        _output = output;
        _registry = registry;
        _options = options;
        _portal = portal;
        _connectionId = connectionId;
        _log = logger ?? NullLogger.Instance;
        _negotiator = new ParameterNegotiator(options.Limits, _params);
    }

    /// <inheritdoc/>
    public string TargetName { get; private set; } = "";
    /// <inheritdoc/>
    public string InitiatorName { get; private set; } = "";
    /// <inheritdoc/>
    public ulong Isid { get; private set; }
    /// <inheritdoc/>
    public ushort Tsih { get; private set; }
    /// <inheritdoc/>
    public string? InitiatorAddress { get; }

    /// <summary>Negotiated parameters (for tests and diagnostics).</summary>
    public SessionParameters Parameters => _params;

    /// <summary>True once login completed.</summary>
    public bool InFullFeaturePhase => _fullFeature;

    /// <inheritdoc/>
    public void End(SessionEndReason reason)
    {
        if (Interlocked.CompareExchange(ref _endReason, (int)reason, -1) != -1) return;
        Log.Ending(_log, InitiatorName, TargetName, reason);
        _input.CancelPendingRead();
    }

    private PduLimits Limits => _fullFeature
        ? new PduLimits(_options.Limits.MaxRecvDataSegmentLength, _params.HeaderDigest, _params.DataDigest)
        : PduLimits.Login;

    /// <summary>Serves the connection until logout, a protocol error, an end request or the peer closing.</summary>
    public async Task RunAsync(CancellationToken cancellationToken = default)
    {
        using var loginTimer = new Timer(static s => ((IscsiConnection)s!).LoginTimedOut(), this,
            TimeSpan.FromSeconds(_options.LoginTimeoutSeconds), Timeout.InfiniteTimeSpan);
        var nop = TimeSpan.FromSeconds(_options.NopInIntervalSeconds);
        using var pingTimer = _options.NopInIntervalSeconds > 0
            ? new Timer(static s => ((IscsiConnection)s!).PingTick(), this, nop, nop)
            : null;
        try
        {
            while (true)
            {
                var read = await _input.ReadAsync(cancellationToken);
                var buffer = read.Buffer;
                bool stop = false, partial = false;
                try
                {
                    if (_fullFeature) loginTimer.Change(Timeout.Infinite, Timeout.Infinite);
                    if (_endReason >= 0 && HandleEndRequest()) { stop = true; }
                    if (_pingDue) stop |= Ping();
                    while (!stop && !_closeAfterFlush)
                    {
                        var status = PduParser.TryParse(ref buffer, Limits, _pdu, out var error);
                        if (status == ParseStatus.NeedMoreData) break;
                        if (status == ParseStatus.Error)
                        {
                            if (error == PduError.DataDigest && _fullFeature) SendReject(RejectReason.DataDigestError);
                            ProtocolError(error.ToString());
                            break;
                        }
                        Dispatch();
                        // Bound what one batch of commands can pile up in the output before the peer reads it.
                        if (_output.CanGetUnflushedBytes && _output.UnflushedBytes > FlushThreshold) { partial = true; break; }
                    }
                    if (!stop && (_budgetWake || _deferred.Count > 0)) GrantDeferred();
                }
                finally
                {
                    // Stopped early with whole PDUs left: mark nothing examined so the next read returns at once.
                    if (partial) _input.AdvanceTo(buffer.Start);
                    else _input.AdvanceTo(buffer.Start, buffer.End);
                }
                var flushed = await _output.FlushAsync(cancellationToken);
                if (stop || _closeAfterFlush || flushed.IsCompleted) break;
                if (read.IsCompleted) break;
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested) { }
        catch (OperationCanceledException) { } // connection aborted by the transport
        catch (IOException) { } // peer reset: expected
        finally
        {
            Cleanup();
            await _input.CompleteAsync();
            await _output.CompleteAsync();
            Log.Closed(_log, _connectionId);
        }
    }

    // Keepalive (RFC 7143 §11.19): a target NOP-In with a TTT must be answered by a NOP-Out echoing it.
    private volatile bool _pingDue;
    private bool _inputSeen;
    private uint _pingTtt = Reserved;

    private void PingTick()
    {
        _pingDue = true;
        _input.CancelPendingRead();
    }

    /// <summary>Sends a ping when the connection was idle for a whole interval; true when the last one went unanswered.</summary>
    private bool Ping()
    {
        _pingDue = false;
        if (!_fullFeature) return false;
        if (_pingTtt != Reserved)
        {
            Log.ProtocolError(_log, _connectionId, "no answer to NOP-In keepalive");
            return true;
        }
        if (_inputSeen) { _inputSeen = false; return false; }
        _pingTtt = NewTtt();
        var h = Bhs(IscsiOpcode.NopIn, 0x80, 0);
        PduWriter.U32(h, 16, Reserved);
        PduWriter.U32(h, 20, _pingTtt);
        Sequence(advanceStatSn: false);
        Send();
        return false;
    }

    private void LoginTimedOut()
    {
        if (!_fullFeature) End(SessionEndReason.Shutdown);
    }

    /// <summary>Returns true when the connection must close now.</summary>
    private bool HandleEndRequest()
    {
        var reason = (SessionEndReason)_endReason;
        if (!_fullFeature || reason is SessionEndReason.Reinstated or SessionEndReason.TargetColdReset || _session is null) return true;
        if (!_logoutRequested)
        {
            // RFC 7143 §11.9.1 AsyncEvent 1: the target requests logout within Parameter3 seconds.
            _logoutRequested = true;
            _logoutDeadline = Environment.TickCount64 + (_options.LogoutGraceSeconds * 1000L);
            SendAsyncLogoutRequest((ushort)_options.LogoutGraceSeconds);
            _ = Task.Delay(TimeSpan.FromSeconds(_options.LogoutGraceSeconds) + TimeSpan.FromMilliseconds(100))
                .ContinueWith(static (_, s) => ((PipeReader)s!).CancelPendingRead(), _input, TaskScheduler.Default);
            return false;
        }
        return Environment.TickCount64 >= _logoutDeadline;
    }

    /// <summary>A fresh Target Transfer Tag (never the reserved 0xFFFFFFFF).</summary>
    private uint NewTtt()
    {
        uint t = _nextTtt++;
        return t == Reserved ? _nextTtt++ : t;
    }

    private void Dispatch()
    {
        _inputSeen = true;
        if (!_fullFeature)
        {
            if (_pdu.Opcode == IscsiOpcode.LoginRequest) OnLogin();
            else ProtocolError($"opcode 0x{(byte)_pdu.Opcode:x2} during login");
            return;
        }
        switch (_pdu.Opcode)
        {
            case IscsiOpcode.ScsiCommand: OnScsiCommand(); break;
            case IscsiOpcode.DataOut: OnDataOut(); break;
            case IscsiOpcode.NopOut: OnNopOut(); break;
            case IscsiOpcode.TaskManagementRequest: OnTaskManagement(); break;
            case IscsiOpcode.TextRequest: OnText(); break;
            case IscsiOpcode.LogoutRequest: OnLogout(); break;
            case IscsiOpcode.LoginRequest: ProtocolError("login request in full feature phase"); break;
            case IscsiOpcode.Snack: SendReject(RejectReason.SnackReject); break; // ERL 0 has no SNACK
            default: SendReject(RejectReason.CommandNotSupported); break;
        }
    }

    // RFC 7143 §4.2.2.1: CmdSN must lie in [ExpCmdSN, MaxCmdSN]; others are silently ignored.
    private bool AcceptCmdSn(uint cmdSn, bool immediate)
    {
        if (immediate) return true;
        if (SerialLess(cmdSn, _expCmdSn) || SerialLess(_maxCmdSn, cmdSn)) return false;
        _expCmdSn = cmdSn + 1;
        UpdateWindow();
        return true;
    }

    /// <summary>MaxCmdSN never moves back; commands still waiting for data hold the window.</summary>
    private void UpdateWindow()
    {
        uint max = _expCmdSn + (uint)_options.Limits.CommandWindow - 1 - (uint)Math.Min(_writes.Count, _options.Limits.CommandWindow - 1);
        if (SerialLess(_maxCmdSn, max)) _maxCmdSn = max;
    }

    private static bool SerialLess(uint a, uint b) => (int)(a - b) < 0;

    private void ProtocolError(string why)
    {
        Log.ProtocolError(_log, _connectionId, why);
        _closeAfterFlush = true;
    }

    [System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1031", Justification = "A LU failing its nexus-lost hook is logged; the other LUs must still hear of it.")]
    private void Cleanup()
    {
        foreach (var w in _writes.Values) ReleaseWrite(w);
        _writes.Clear();
        _budget.Withdraw(this);
        if (_session is not null)
        {
            _registry.Detach(this);
            if (_endReason != (int)SessionEndReason.Reinstated && _target is not null)
                foreach (var u in _target.Luns.Values)
                {
                    try { u.NexusLost(_nexus); }
                    catch (Exception ex) { Log.UnitFailed(_log, ex, TargetName, -1); }
                }
        }
    }

    // ---- output ----

    private Span<byte> Bhs(IscsiOpcode op, byte flags, int dataLength)
    {
        PduWriter.Init(_bhs, op, flags, dataLength);
        return _bhs;
    }

    private void Send(ReadOnlySpan<byte> data = default) => PduWriter.Frame(_output, _bhs, data, _headerDigest, _dataDigest);

    private uint NextStatSn() => _statSn++;

    private void Sequence(bool advanceStatSn = true)
        => PduWriter.Sequence(_bhs, advanceStatSn ? NextStatSn() : _statSn, _expCmdSn, _maxCmdSn);

    // RFC 7143 §11.17 Reject: carries the offending BHS as its data.
    private void SendReject(byte reason)
    {
        Log.Rejected(_log, _connectionId, reason, (byte)_pdu.Opcode);
        var h = Bhs(IscsiOpcode.Reject, 0x80, Pdu.BhsLength);
        h[2] = reason;
        PduWriter.U32(h, 16, Reserved);
        Sequence();
        Send(_pdu.Header);
    }

    // RFC 7143 §11.9 Asynchronous Message, AsyncEvent 1: logout requested.
    private void SendAsyncLogoutRequest(ushort seconds)
    {
        var h = Bhs(IscsiOpcode.AsyncMessage, 0x80, 0);
        PduWriter.U32(h, 16, Reserved);
        Sequence();
        h[36] = 1;
        PduWriter.U16(h, 42, seconds);
        Send();
    }
}
