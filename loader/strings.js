/*
 * Every visible or spoken string of the launcher and the panel, in the 9 supported languages.
 * tests/unit/test_strings.py checks that every language has every key and that no non-English
 * table reuses an English string. Counts are written "label: {n}" so that no language needs plural
 * rules ("1 unread messages" is wrong in English, French, German and Portuguese alike).
 * Keys: launcher = the launcher document's title; title = the panel's heading and document title.
 */
export const STRINGS = {
  en: {
    launcher: "Chat button", open: "Open chat", close: "Close chat", unread: "Unread messages: {n}",
    title: "Chat with us", minimize: "Minimize chat", messages: "Messages",
    placeholder: "Write a message…", send: "Send", composer: "Your message",
    greeting: "Hi! Ask us anything. We usually reply within a few minutes.",
    loading: "Starting chat…", connecting: "Connecting…", online: "Online",
    reconnecting: "Reconnecting…", offline: "Offline", closed: "This chat session has ended.",
    you: "You", agent: "Agent", sending: "Sending…", failed: "Not sent. Retry",
  },
  "zh-cn": {
    launcher: "聊天按钮", open: "打开聊天", close: "关闭聊天", unread: "{n} 条未读消息",
    title: "与我们聊天", minimize: "最小化聊天", messages: "消息",
    placeholder: "输入消息…", send: "发送", composer: "你的消息",
    greeting: "你好！有任何问题都可以问我们，我们通常会在几分钟内回复。",
    loading: "正在启动聊天…", connecting: "正在连接…", online: "在线",
    reconnecting: "正在重新连接…", offline: "离线", closed: "本次聊天会话已结束。",
    you: "你", agent: "客服", sending: "发送中…", failed: "发送失败，点击重试",
  },
  "zh-tw": {
    launcher: "聊天按鈕", open: "開啟聊天", close: "關閉聊天", unread: "{n} 則未讀訊息",
    title: "與我們聊天", minimize: "最小化聊天", messages: "訊息",
    placeholder: "輸入訊息…", send: "傳送", composer: "你的訊息",
    greeting: "你好！有任何問題都可以問我們，我們通常會在幾分鐘內回覆。",
    loading: "正在啟動聊天…", connecting: "正在連線…", online: "線上",
    reconnecting: "正在重新連線…", offline: "離線", closed: "本次聊天工作階段已結束。",
    you: "你", agent: "客服", sending: "傳送中…", failed: "傳送失敗，點此重試",
  },
  ja: {
    launcher: "チャットボタン", open: "チャットを開く", close: "チャットを閉じる", unread: "未読メッセージ {n} 件",
    title: "チャットでお問い合わせ", minimize: "チャットを最小化", messages: "メッセージ",
    placeholder: "メッセージを入力…", send: "送信", composer: "メッセージ",
    greeting: "こんにちは！何でもお気軽にどうぞ。通常数分以内に返信します。",
    loading: "チャットを起動しています…", connecting: "接続中…", online: "オンライン",
    reconnecting: "再接続中…", offline: "オフライン", closed: "このチャットセッションは終了しました。",
    you: "あなた", agent: "担当者", sending: "送信中…", failed: "送信できませんでした。再試行",
  },
  ko: {
    launcher: "채팅 버튼", open: "채팅 열기", close: "채팅 닫기", unread: "읽지 않은 메시지 {n}개",
    title: "채팅 상담", minimize: "채팅 최소화", messages: "메시지",
    placeholder: "메시지를 입력하세요…", send: "보내기", composer: "메시지",
    greeting: "안녕하세요! 무엇이든 물어보세요. 보통 몇 분 안에 답변드립니다.",
    loading: "채팅을 시작하는 중…", connecting: "연결 중…", online: "온라인",
    reconnecting: "다시 연결하는 중…", offline: "오프라인", closed: "이 채팅 세션이 종료되었습니다.",
    you: "나", agent: "상담원", sending: "보내는 중…", failed: "전송 실패. 다시 시도",
  },
  de: {
    launcher: "Chat-Schaltfläche", open: "Chat öffnen", close: "Chat schließen", unread: "Ungelesene Nachrichten: {n}",
    title: "Schreiben Sie uns", minimize: "Chat minimieren", messages: "Nachrichten",
    placeholder: "Nachricht schreiben…", send: "Senden", composer: "Ihre Nachricht",
    greeting: "Hallo! Fragen Sie uns alles. Wir antworten meist innerhalb weniger Minuten.",
    loading: "Chat wird gestartet…", connecting: "Verbindung wird hergestellt…", online: "Verbunden",
    reconnecting: "Verbindung wird wiederhergestellt…", offline: "Getrennt",
    closed: "Diese Chat-Sitzung wurde beendet.",
    you: "Sie", agent: "Mitarbeiter", sending: "Wird gesendet…", failed: "Nicht gesendet. Erneut versuchen",
  },
  fr: {
    launcher: "Bouton de discussion", open: "Ouvrir la discussion", close: "Fermer la discussion", unread: "Messages non lus\u00a0: {n}",
    title: "Discutons", minimize: "Réduire la discussion", messages: "Fil de la discussion",
    placeholder: "Écrivez un message…", send: "Envoyer", composer: "Votre message",
    greeting: "Bonjour ! Posez-nous vos questions. Nous répondons en général en quelques minutes.",
    loading: "Démarrage de la discussion…", connecting: "Connexion…", online: "En ligne",
    reconnecting: "Reconnexion…", offline: "Hors ligne", closed: "Cette session de discussion est terminée.",
    you: "Vous", agent: "Conseiller", sending: "Envoi…", failed: "Non envoyé. Réessayer",
  },
  pt: {
    launcher: "Botão de conversa", open: "Abrir conversa", close: "Fechar conversa", unread: "Mensagens não lidas: {n}",
    title: "Fale conosco", minimize: "Minimizar conversa", messages: "Mensagens",
    placeholder: "Escreva uma mensagem…", send: "Enviar", composer: "Sua mensagem",
    greeting: "Olá! Pergunte o que quiser. Costumamos responder em poucos minutos.",
    loading: "Iniciando a conversa…", connecting: "Conectando…", online: "Disponível",
    reconnecting: "Reconectando…", offline: "Desconectado", closed: "Esta sessão de conversa foi encerrada.",
    you: "Você", agent: "Atendente", sending: "Enviando…", failed: "Não enviada. Tentar de novo",
  },
  ru: {
    launcher: "Кнопка чата", open: "Открыть чат", close: "Закрыть чат", unread: "Непрочитанных сообщений: {n}",
    title: "Напишите нам", minimize: "Свернуть чат", messages: "Сообщения",
    placeholder: "Напишите сообщение…", send: "Отправить", composer: "Ваше сообщение",
    greeting: "Здравствуйте! Задайте любой вопрос. Обычно мы отвечаем в течение нескольких минут.",
    loading: "Запуск чата…", connecting: "Подключение…", online: "В сети",
    reconnecting: "Переподключение…", offline: "Не в сети", closed: "Этот сеанс чата завершён.",
    you: "Вы", agent: "Оператор", sending: "Отправка…", failed: "Не отправлено. Повторить",
  },
};

export function t(locale, key, n) {
  const table = STRINGS[locale] || STRINGS.en;
  const text = table[key] !== undefined ? table[key] : STRINGS.en[key];
  return n === undefined ? text : text.replace("{n}", String(n));
}
