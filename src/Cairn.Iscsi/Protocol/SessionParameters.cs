namespace Cairn.Iscsi.Protocol;

/// <summary>What the target offers or accepts at most (its side of RFC 7143 §13 negotiation).</summary>
public sealed record TargetLimits
{
    /// <summary>Our MaxRecvDataSegmentLength, declared to the initiator (512..2^24−1).</summary>
    public int MaxRecvDataSegmentLength { get; init; } = 256 * 1024;
    public int MaxBurstLength { get; init; } = 1024 * 1024;
    public int FirstBurstLength { get; init; } = 256 * 1024;
    public int MaxOutstandingR2T { get; init; } = 16;
    /// <summary>Our InitialR2T preference; No lets initiators send unsolicited data (fewer round trips).</summary>
    public bool InitialR2T { get; init; }
    public bool ImmediateData { get; init; } = true;
    public int DefaultTime2Wait { get; init; } = 2;
    public int DefaultTime2Retain { get; init; }
    /// <summary>Commands the initiator may have outstanding (MaxCmdSN − ExpCmdSN + 1).</summary>
    public int CommandWindow { get; init; } = 128;
}

/// <summary>Negotiated operational parameters of one session/connection (RFC 7143 §13), starting at the RFC defaults.</summary>
public sealed class SessionParameters
{
    public bool HeaderDigest { get; set; }
    public bool DataDigest { get; set; }
    /// <summary>Largest data segment the initiator accepts from us (its declaration; default 8192).</summary>
    public int InitiatorMaxRecvDataSegmentLength { get; set; } = 8192;
    /// <summary>Largest data segment we accept (our declaration; 8192 until declared).</summary>
    public int TargetMaxRecvDataSegmentLength { get; set; } = 8192;
    public int MaxBurstLength { get; set; } = 262144;
    public int FirstBurstLength { get; set; } = 65536;
    public bool InitialR2T { get; set; } = true;
    public bool ImmediateData { get; set; } = true;
    public int MaxOutstandingR2T { get; set; } = 1;
    public int MaxConnections { get; set; } = 1;
    public bool DataPduInOrder { get; set; } = true;
    public bool DataSequenceInOrder { get; set; } = true;
    public int DefaultTime2Wait { get; set; } = 2;
    public int DefaultTime2Retain { get; set; } = 20;
    public int ErrorRecoveryLevel { get; set; }
}
