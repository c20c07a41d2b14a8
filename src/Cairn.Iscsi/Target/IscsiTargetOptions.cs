using Cairn.Iscsi.Protocol;

namespace Cairn.Iscsi.Target;

/// <summary>Transport settings of the iSCSI target.</summary>
public sealed class IscsiTargetOptions
{
    /// <summary>What we offer in login negotiation.</summary>
    public TargetLimits Limits { get; set; } = new();

    /// <summary>Largest data-in or data-out buffer one command may use; larger transfers are clipped (the LU reports the error).</summary>
    public int MaxCommandBuffer { get; set; } = 16 * 1024 * 1024;

    /// <summary>
    /// Data-out bytes one connection may hold for writes still waiting for data; beyond it further writes wait for their
    /// R2Ts until earlier ones finish.
    /// </summary>
    public long MaxPendingWriteBytes { get; set; } = 256L * 1024 * 1024;

    /// <summary>
    /// Data-out bytes all connections together may hold for writes still waiting for data (<see cref="WriteBufferBudget"/>).
    /// A write that does not fit waits for its R2Ts, and the connection's command window closes, until writes finish:
    /// backpressure, not failure. Only the unsolicited data an initiator may send before any R2T (FirstBurstLength per
    /// command in its window) is taken regardless. Default 256 MiB; <c>CAIRN_ISCSI_WRITE_BUFFER_MB</c>.
    /// </summary>
    public long MaxBufferedWriteBytes { get; set; } = 256L * 1024 * 1024;

    /// <summary>Seconds an initiator gets to log out after the target asked it to (target removed, access revoked).</summary>
    public int LogoutGraceSeconds { get; set; } = 2;

    /// <summary>Seconds a connection may take to complete login before it is dropped.</summary>
    public int LoginTimeoutSeconds { get; set; } = 15;

    /// <summary>
    /// Seconds of silence after which the target pings the initiator with a NOP-In; an unanswered ping by the next
    /// interval drops the connection (dead peers do not hold sessions and reservations forever). 0 turns it off.
    /// </summary>
    public int NopInIntervalSeconds { get; set; } = 30;

    /// <summary>Largest accumulated text (login or Text request with the C bit) we buffer.</summary>
    public int MaxTextLength { get; set; } = 64 * 1024;

    /// <summary>Null when the options are usable, else why not.</summary>
    public string? Validate()
    {
        var l = Limits;
        if (l.MaxRecvDataSegmentLength is < 512 or > 16777215) return "MaxRecvDataSegmentLength must be 512..16777215";
        if (l.MaxBurstLength is < 512 or > 16777215) return "MaxBurstLength must be 512..16777215";
        if (l.FirstBurstLength < 512 || l.FirstBurstLength > l.MaxBurstLength) return "FirstBurstLength must be 512..MaxBurstLength";
        if (l.MaxOutstandingR2T is < 1 or > 65535) return "MaxOutstandingR2T must be 1..65535";
        if (l.CommandWindow is < 1 or > 4096) return "CommandWindow must be 1..4096";
        if (MaxCommandBuffer < 512) return "MaxCommandBuffer must be at least 512";
        if (MaxPendingWriteBytes < MaxCommandBuffer) return "MaxPendingWriteBytes must be at least MaxCommandBuffer";
        // Smaller, and a write as large as one command may be could never be granted.
        if (MaxBufferedWriteBytes < MaxCommandBuffer) return "MaxBufferedWriteBytes must be at least MaxCommandBuffer";
        if (LogoutGraceSeconds < 0 || LoginTimeoutSeconds < 1 || NopInIntervalSeconds < 0) return "timeouts must be positive";
        return null;
    }
}
