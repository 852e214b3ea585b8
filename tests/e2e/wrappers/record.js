/* What both test apps share: the page's configuration and the recorder every wrapper callback
 * writes to (window.__wrapper: [callback name, its argument or null], in order). */
export const config = window.__wrapperConfig;

export const CALLBACKS = [
  "onLoad", "onBeforeLoad", "onStatusChange", "onChatMaximized", "onChatMinimized",
  "onChatHidden", "onChatStarted", "onChatEnded", "onPrechatSubmit", "onOfflineSubmit",
  "onChatMessageVisitor", "onChatMessageAgent", "onChatMessageSystem", "onAgentJoinChat",
  "onAgentLeaveChat", "onChatSatisfaction", "onVisitorNameChanged", "onFileUpload",
  "onTagsUpdated", "onUnreadCountChanged",
];

const recorded = (window.__wrapper = []);

export function recorder(name) {
  return (payload) => recorded.push([name, payload === undefined ? null : payload]);
}
